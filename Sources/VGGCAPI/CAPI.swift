// The C ABI of include/vgg.h: thin shims that check arguments, box handles and map errors.
// Nothing here may trap on caller input: every pointer and number is checked first.
import Glibc
import VGGEngine
import VGGFormat

private let versionCString: UnsafeMutablePointer<CChar> = strdup(LibraryVersion.string)!
private let statusCStrings: [UnsafeMutablePointer<CChar>] = VGGStatus.allCases.map { strdup($0.description)! }
private let unknownStatusCString: UnsafeMutablePointer<CChar> = strdup("unknown status code")!

@_cdecl("vgg_version")
public func vgg_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionCString)
}

@_cdecl("vgg_version_number")
public func vgg_version_number() -> UInt32 {
    LibraryVersion.number
}

@_cdecl("vgg_status_string")
public func vgg_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    guard let s = VGGStatus(rawValue: status), let i = VGGStatus.allCases.firstIndex(of: s) else {
        return UnsafePointer(unknownStatusCString)
    }
    return UnsafePointer(statusCStrings[i])
}

@_cdecl("vgg_last_error")
public func vgg_last_error() -> UnsafePointer<CChar> {
    lastErrorPointer()
}

// MARK: - Model

@_cdecl("vgg_model_open")
public func vgg_model_open(_ path: UnsafePointer<CChar>?, _ flags: UInt32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_model_open: out_model is NULL") }
    out.pointee = nil
    guard let path else { return fail(.invalidArgument, "vgg_model_open: path is NULL") }
    if flags & ~ModelOpenOptions.all.rawValue != 0 {
        return fail(.invalidArgument, "vgg_model_open: flags 0x\(String(flags, radix: 16)) has unknown bits (known: VGG_OPEN_VERIFY_CHECKSUMS = 1)")
    }
    let p = String(cString: path)
    return guarded("vgg_model_open('\(p)')") {
        let model = try Model(path: p, options: ModelOpenOptions(rawValue: flags))
        out.pointee = box(model)
    }
}

@_cdecl("vgg_model_open_memory")
public func vgg_model_open_memory(_ data: UnsafeRawPointer?, _ byteCount: UInt, _ flags: UInt32,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_model_open_memory: out_model is NULL") }
    out.pointee = nil
    guard let data else { return fail(.invalidArgument, "vgg_model_open_memory: data is NULL") }
    if flags & ~ModelOpenOptions.all.rawValue != 0 {
        return fail(.invalidArgument, "vgg_model_open_memory: flags 0x\(String(flags, radix: 16)) has unknown bits")
    }
    let size = Int(clamping: byteCount)
    return guarded("vgg_model_open_memory") {
        if size < VGGFile.headerSize {
            throw VGGError(.format, "size is \(size) bytes, shorter than the \(VGGFile.headerSize)-byte .vgg header")
        }
        // Kernels load 64-byte vectors straight from the tensors (4096-aligned in the file).
        if UInt(bitPattern: data) % 64 != 0 {
            throw VGGError(.invalidArgument, "data: expected an address aligned to 64 bytes, found one \(UInt(bitPattern: data) % 64) bytes past a boundary")
        }
        let model = try Model(mapping: FileMapping(borrowing: data, count: size), options: ModelOpenOptions(rawValue: flags))
        out.pointee = box(model)
    }
}

@_cdecl("vgg_model_close")
public func vgg_model_close(_ model: OpaquePointer?) {
    guard let model else { return }
    release(model, as: Model.self)
}

// MARK: - Session

@_cdecl("vgg_session_create")
public func vgg_session_create(_ model: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_session_create: out_session is NULL") }
    out.pointee = nil
    guard let model else { return fail(.invalidArgument, "vgg_session_create: model is NULL") }
    let m = unbox(model, as: Model.self)
    out.pointee = box(Session(model: m))
    return VGGStatus.ok.rawValue
}

@_cdecl("vgg_session_free")
public func vgg_session_free(_ session: OpaquePointer?) {
    guard let session else { return }
    release(session, as: Session.self)
}

// MARK: - Model queries

/// Keys of vgg_model_get_info (vgg.h).
enum InfoKey: Int32 {
    case layerCount = 1, classCount = 2, inputHeight = 3, inputWidth = 4, parameterCount = 5
    case channelOrder = 6, minimumInputSize = 7, labelCount = 8, weightDType = 9, fileSize = 10
    case formatVersion = 11, keptWeightBytes = 12
}

@_cdecl("vgg_model_get_info")
public func vgg_model_get_info(_ model: OpaquePointer?, _ key: Int32, _ value: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let model else { return fail(.invalidArgument, "vgg_model_get_info: model is NULL") }
    guard let value else { return fail(.invalidArgument, "vgg_model_get_info: value is NULL") }
    let m = unbox(model, as: Model.self)
    guard let k = InfoKey(rawValue: key) else {
        return fail(.invalidArgument, "vgg_model_get_info: key \(key) is not a VGG_INFO_* value (1…12)")
    }
    switch k {
    case .layerCount: value.pointee = Int64(m.layers.count)
    case .classCount: value.pointee = Int64(m.classCount)
    case .inputHeight: value.pointee = Int64(m.inputHeight)
    case .inputWidth: value.pointee = Int64(m.inputWidth)
    case .parameterCount: value.pointee = Int64(m.parameterCount)
    case .channelOrder: value.pointee = Int64(m.channelOrder.rawValue)
    case .minimumInputSize: value.pointee = Int64(m.minimumInputSide)
    case .labelCount: value.pointee = Int64(m.labels.count)
    case .weightDType: value.pointee = Int64(m.tensors.first(where: { $0.layout != .vector16 })?.dtype.rawValue ?? 0)
    case .fileSize: value.pointee = Int64(m.mapping.count)
    case .formatVersion: value.pointee = Int64(m.formatVersion)
    case .keptWeightBytes: value.pointee = Int64(m.keptWeightBytes)
    }
    return VGGStatus.ok.rawValue
}

@_cdecl("vgg_model_get_preprocessing")
public func vgg_model_get_preprocessing(_ model: OpaquePointer?, _ mean: UnsafeMutablePointer<Float>?,
                                        _ scale: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let model else { return fail(.invalidArgument, "vgg_model_get_preprocessing: model is NULL") }
    guard let mean, let scale else { return fail(.invalidArgument, "vgg_model_get_preprocessing: mean or scale is NULL") }
    let m = unbox(model, as: Model.self)
    for c in 0..<3 {
        mean[c] = m.mean[c]
        scale[c] = m.scale[c]
    }
    return VGGStatus.ok.rawValue
}

@_cdecl("vgg_model_name")
public func vgg_model_name(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let model else { _ = fail(.invalidArgument, "vgg_model_name: model is NULL"); return nil }
    return unbox(model, as: Model.self).namePointer
}

@_cdecl("vgg_model_layer_name")
public func vgg_model_layer_name(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    guard let model else { _ = fail(.invalidArgument, "vgg_model_layer_name: model is NULL"); return nil }
    let m = unbox(model, as: Model.self)
    guard index >= 0 && Int(index) < m.layerNamePointers.count else {
        _ = fail(.notFound, "vgg_model_layer_name: index \(index) is outside 0…\(m.layerNamePointers.count - 1)")
        return nil
    }
    return m.layerNamePointers[Int(index)]
}

@_cdecl("vgg_model_label")
public func vgg_model_label(_ model: OpaquePointer?, _ index: Int32) -> UnsafePointer<CChar>? {
    guard let model else { _ = fail(.invalidArgument, "vgg_model_label: model is NULL"); return nil }
    let m = unbox(model, as: Model.self)
    guard index >= 0 && Int(index) < m.labelPointers.count else {
        _ = fail(.notFound, "vgg_model_label: index \(index) is outside the model's \(m.labelPointers.count) labels")
        return nil
    }
    return m.labelPointers[Int(index)]
}

@_cdecl("vgg_model_layer_index")
public func vgg_model_layer_index(_ model: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ index: UnsafeMutablePointer<Int32>?) -> Int32 {
    guard let model, let name, let index else { return fail(.invalidArgument, "vgg_model_layer_index: model, name and index must not be NULL") }
    let m = unbox(model, as: Model.self)
    let n = String(cString: name)
    guard let i = m.layerIndex(named: n) else {
        return fail(.notFound, "vgg_model_layer_index: no layer named '\(n)'")
    }
    index.pointee = Int32(i)
    return VGGStatus.ok.rawValue
}

@_cdecl("vgg_model_describe")
public func vgg_model_describe(_ model: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ bufferSize: UInt,
                               _ length: UnsafeMutablePointer<UInt>?) -> Int32 {
    let capacity = Int(clamping: bufferSize)
    guard let model else { return fail(.invalidArgument, "vgg_model_describe: model is NULL") }
    guard let length else { return fail(.invalidArgument, "vgg_model_describe: length is NULL") }
    let text = Array(unbox(model, as: Model.self).describe().text.utf8)
    length.pointee = UInt(text.count)
    guard let buffer, capacity > 0 else {
        return capacity == 0 ? VGGStatus.ok.rawValue : fail(.invalidArgument, "vgg_model_describe: buffer is NULL with capacity \(capacity)")
    }
    if capacity < text.count + 1 {
        return fail(.bufferTooSmall, "vgg_model_describe: expected a buffer of \(text.count + 1) bytes, found \(capacity)")
    }
    for (i, byte) in text.enumerated() { buffer[i] = CChar(bitPattern: byte) }
    buffer[text.count] = 0
    return VGGStatus.ok.rawValue
}

/// Shared argument checks of the size-taking calls.
func checkedSize(_ height: Int64, _ width: Int64) throws -> (Int, Int) {
    let maxSide = Int64(Session.maxSide)
    guard height >= 1 && height <= maxSide && width >= 1 && width <= maxSide else {
        throw VGGError(.invalidArgument, "input size: expected height and width in 1…\(maxSide), found \(height)×\(width)")
    }
    return (Int(height), Int(width))
}

@_cdecl("vgg_model_output_shape")
public func vgg_model_output_shape(_ model: OpaquePointer?, _ layer: UnsafePointer<CChar>?, _ height: Int64, _ width: Int64,
                                   _ shape: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let model else { return fail(.invalidArgument, "vgg_model_output_shape: model is NULL") }
    guard let shape else { return fail(.invalidArgument, "vgg_model_output_shape: shape is NULL") }
    let m = unbox(model, as: Model.self)
    return guarded("vgg_model_output_shape") {
        let (h, w) = try checkedSize(height, width)
        var last = m.layers.count - 1
        if let layer {
            let n = String(cString: layer)
            guard let i = m.layerIndex(named: n) else { throw VGGError(.notFound, "no layer named '\(n)'") }
            last = i
        }
        let s = try Planner.shapes(model: m, height: h, width: w, through: last)[last]
        shape[0] = Int64(s.channels); shape[1] = Int64(s.height); shape[2] = Int64(s.width)
    }
}

// MARK: - Session options and runs

enum OptionKey: Int32 {
    case threads = 1, forceReference = 2, isa = 3, winograd = 4, bf16Arithmetic = 5, keptWorkspaceMiB = 6
}

/// Largest VGG_OPTION_KEPT_WORKSPACE_MIB: its bytes stay within Int.
let maxKeptWorkspaceMiB: Int64 = 1 << 40

/// A run under vgg.h's memory rule: the session gives its workspace back after a failed run
/// and after a run whose workspace went past VGG_OPTION_KEPT_WORKSPACE_MIB.
func sessionRun(_ function: String, _ s: Session, _ body: () throws -> Void) -> Int32 {
    let status = guarded(function, body)
    s.finishRun(failed: status != VGGStatus.ok.rawValue)
    return status
}

@_cdecl("vgg_session_set_option")
public func vgg_session_set_option(_ session: OpaquePointer?, _ option: Int32, _ value: Int64) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_set_option: session is NULL") }
    let s = unbox(session, as: Session.self)
    guard let key = OptionKey(rawValue: option) else {
        return fail(.invalidArgument, "vgg_session_set_option: option \(option) is not a VGG_OPTION_* value (1…6)")
    }
    return guarded("vgg_session_set_option") {
        switch key {
        case .threads:
            guard value >= 1 && value <= 256 else { throw VGGError(.invalidArgument, "VGG_OPTION_THREADS: expected 1…256, found \(value)") }
            try s.setThreads(Int(value))
        case .forceReference:
            guard value == 0 || value == 1 else { throw VGGError(.invalidArgument, "VGG_OPTION_FORCE_REFERENCE: expected 0 or 1, found \(value)") }
            s.forceReference = value == 1
        case .isa:
            guard value >= 0 && value <= 3 else { throw VGGError(.invalidArgument, "VGG_OPTION_ISA: expected 0…3, found \(value)") }
            try s.setISALevel(Int(value))
        case .winograd:
            guard [0, 1, 4, 6].contains(value) else {
                throw VGGError(.invalidArgument, "VGG_OPTION_WINOGRAD: expected 0, 1, 4 or 6, found \(value)")
            }
            s.winogradEnabled = value != 0
            s.winogradTileSize = value >= 4 ? Int(value) : 0
        case .bf16Arithmetic:
            guard let mode = BF16Arithmetic(rawValue: Int(clamping: value)), Int64(mode.rawValue) == value else {
                throw VGGError(.invalidArgument, "VGG_OPTION_BF16_ARITHMETIC: expected 0, 1 or 2, found \(value)")
            }
            s.bf16Arithmetic = mode
        case .keptWorkspaceMiB:
            guard value >= 0 && value <= maxKeptWorkspaceMiB else {
                throw VGGError(.invalidArgument, "VGG_OPTION_KEPT_WORKSPACE_MIB: expected 0…\(maxKeptWorkspaceMiB), found \(value)")
            }
            s.keptWorkspaceBytes = Int(value) << 20
        }
    }
}

@_cdecl("vgg_session_get_option")
public func vgg_session_get_option(_ session: OpaquePointer?, _ option: Int32, _ value: UnsafeMutablePointer<Int64>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_get_option: session is NULL") }
    guard let value else { return fail(.invalidArgument, "vgg_session_get_option: value is NULL") }
    let s = unbox(session, as: Session.self)
    guard let key = OptionKey(rawValue: option) else {
        return fail(.invalidArgument, "vgg_session_get_option: option \(option) is not a VGG_OPTION_* value (1…6)")
    }
    switch key {
    case .threads: value.pointee = Int64(s.threads)
    case .forceReference: value.pointee = s.forceReference ? 1 : 0
    case .isa: value.pointee = Int64(s.isaLevel)
    case .winograd: value.pointee = s.winogradEnabled ? (s.winogradTileSize == 0 ? 1 : Int64(s.winogradTileSize)) : 0
    case .bf16Arithmetic: value.pointee = Int64(s.bf16Arithmetic.rawValue)
    case .keptWorkspaceMiB: value.pointee = Int64(s.keptWorkspaceBytes >> 20)
    }
    return VGGStatus.ok.rawValue
}

private let kernelPathStrings: [KernelPath: UnsafeMutablePointer<CChar>] = [
    .x86_64_v4: strdup(KernelPath.x86_64_v4.rawValue)!, .x86_64_v3: strdup(KernelPath.x86_64_v3.rawValue)!,
    .baseline: strdup(KernelPath.baseline.rawValue)!, .reference: strdup(KernelPath.reference.rawValue)!,
]

@_cdecl("vgg_session_kernel_path")
public func vgg_session_kernel_path(_ session: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let session else { _ = fail(.invalidArgument, "vgg_session_kernel_path: session is NULL"); return nil }
    return kernelPathStrings[unbox(session, as: Session.self).kernelPath].map { UnsafePointer($0) }
}

@_cdecl("vgg_session_workspace_bytes")
public func vgg_session_workspace_bytes(_ session: OpaquePointer?, _ height: Int64, _ width: Int64, _ bytes: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_workspace_bytes: session is NULL") }
    guard let bytes else { return fail(.invalidArgument, "vgg_session_workspace_bytes: bytes is NULL") }
    let s = unbox(session, as: Session.self)
    return guarded("vgg_session_workspace_bytes") {
        let (h, w) = try checkedSize(height, width)
        bytes.pointee = UInt(try s.workspaceBytes(height: h, width: w))
    }
}

@_cdecl("vgg_session_batch_workspace_bytes")
public func vgg_session_batch_workspace_bytes(_ session: OpaquePointer?, _ n: Int64, _ height: Int64, _ width: Int64,
                                              _ bytes: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_batch_workspace_bytes: session is NULL") }
    guard let bytes else { return fail(.invalidArgument, "vgg_session_batch_workspace_bytes: bytes is NULL") }
    let s = unbox(session, as: Session.self)
    return guarded("vgg_session_batch_workspace_bytes") {
        let images = try checkedBatch(n)
        let (h, w) = try checkedSize(height, width)
        bytes.pointee = UInt(try s.workspaceBytes(n: images, height: h, width: w))
    }
}

@_cdecl("vgg_session_held_bytes")
public func vgg_session_held_bytes(_ session: OpaquePointer?, _ bytes: UnsafeMutablePointer<UInt>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_held_bytes: session is NULL") }
    guard let bytes else { return fail(.invalidArgument, "vgg_session_held_bytes: bytes is NULL") }
    bytes.pointee = UInt(unbox(session, as: Session.self).heldWorkspaceBytes)
    return VGGStatus.ok.rawValue
}

func checkedBatch(_ n: Int64) throws -> Int {
    guard n >= 1 && n <= Int64(Session.maxBatch) else {
        throw VGGError(.invalidArgument, "batch: expected 1…\(Session.maxBatch), found \(n)")
    }
    return Int(n)
}

@_cdecl("vgg_session_forward")
public func vgg_session_forward(_ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ n: Int64, _ height: Int64, _ width: Int64,
                                _ scores: UnsafeMutablePointer<Float>?, _ scoreCapacity: UInt) -> Int32 {
    let capacity = Int(clamping: scoreCapacity)
    guard let session else { return fail(.invalidArgument, "vgg_session_forward: session is NULL") }
    guard let input, let scores else { return fail(.invalidArgument, "vgg_session_forward: input and scores must not be NULL") }
    let s = unbox(session, as: Session.self)
    return sessionRun("vgg_session_forward", s) {
        let (h, w) = try checkedSize(height, width)
        _ = try s.forward(input: input, n: try checkedBatch(n), height: h, width: w, output: scores, capacity: capacity)
    }
}

@_cdecl("vgg_session_probabilities")
public func vgg_session_probabilities(_ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ n: Int64, _ height: Int64, _ width: Int64,
                                      _ probabilities: UnsafeMutablePointer<Float>?, _ probabilityCapacity: UInt) -> Int32 {
    let capacity = Int(clamping: probabilityCapacity)
    guard let session else { return fail(.invalidArgument, "vgg_session_probabilities: session is NULL") }
    guard let input, let probabilities else { return fail(.invalidArgument, "vgg_session_probabilities: input and probabilities must not be NULL") }
    let s = unbox(session, as: Session.self)
    return sessionRun("vgg_session_probabilities", s) {
        let (h, w) = try checkedSize(height, width)
        try s.probabilities(input: input, n: try checkedBatch(n), height: h, width: w, output: probabilities, capacity: capacity)
    }
}

@_cdecl("vgg_session_features")
public func vgg_session_features(_ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ n: Int64, _ height: Int64, _ width: Int64,
                                 _ layers: UnsafePointer<UnsafePointer<CChar>?>?, _ layerCount: Int32,
                                 _ outputs: UnsafePointer<UnsafeMutablePointer<Float>?>?, _ capacities: UnsafePointer<UInt>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_features: session is NULL") }
    guard let input, let layers, let outputs, let capacities else {
        return fail(.invalidArgument, "vgg_session_features: input, layers, outputs and capacities must not be NULL")
    }
    guard layerCount >= 1 && layerCount <= 1024 else {
        return fail(.invalidArgument, "vgg_session_features: layer_count: expected 1…1024, found \(layerCount)")
    }
    var names = [String](), outs = [UnsafeMutablePointer<Float>](), caps = [Int]()
    for i in 0..<Int(layerCount) {
        guard let name = layers[i] else { return fail(.invalidArgument, "vgg_session_features: layers[\(i)] is NULL") }
        guard let out = outputs[i] else { return fail(.invalidArgument, "vgg_session_features: outputs[\(i)] is NULL") }
        names.append(String(cString: name))
        outs.append(out)
        caps.append(Int(clamping: capacities[i]))
    }
    let s = unbox(session, as: Session.self)
    return sessionRun("vgg_session_features", s) {
        let (h, w) = try checkedSize(height, width)
        try s.features(input: input, n: try checkedBatch(n), height: h, width: w, layers: names, outputs: outs, capacities: caps)
    }
}

@_cdecl("vgg_session_classify")
public func vgg_session_classify(_ session: OpaquePointer?, _ pixels: UnsafePointer<UInt8>?, _ width: Int64, _ height: Int64,
                                 _ stride: Int64, _ pixelFormat: Int32, _ scales: UnsafePointer<Int32>?, _ scaleCount: Int32,
                                 _ flip: Int32, _ topK: Int32, _ classes: UnsafeMutablePointer<Int32>?,
                                 _ probabilities: UnsafeMutablePointer<Float>?) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_classify: session is NULL") }
    guard let pixels, let classes, let probabilities else {
        return fail(.invalidArgument, "vgg_session_classify: pixels, classes and probabilities must not be NULL")
    }
    guard let format = PixelFormat(rawValue: pixelFormat) else {
        return fail(.invalidArgument, "vgg_session_classify: pixel_format: expected VGG_PIXELS_RGB (0) or VGG_PIXELS_BGR (1), found \(pixelFormat)")
    }
    guard scaleCount >= 0 && scaleCount <= 64, scaleCount == 0 || scales != nil else {
        return fail(.invalidArgument, "vgg_session_classify: scale_count: expected 0…64 with a non-NULL scales array, found \(scaleCount)")
    }
    guard flip == 0 || flip == 1 else { return fail(.invalidArgument, "vgg_session_classify: flip: expected 0 or 1, found \(flip)") }
    let s = unbox(session, as: Session.self)
    guard topK >= 1 && Int(topK) <= max(1, s.model.classCount) else {
        return fail(.invalidArgument, "vgg_session_classify: top_k: expected 1…\(s.model.classCount), found \(topK)")
    }
    guard width >= 1 && width <= Int64(Session.maxSide) && height >= 1 && height <= Int64(Session.maxSide) else {
        return fail(.invalidArgument, "vgg_session_classify: image size: expected 1…\(Session.maxSide) per side, found \(width)×\(height)")
    }
    guard stride >= width * 3 && stride <= Int64(Int32.max) else {
        return fail(.invalidArgument, "vgg_session_classify: stride: expected \(width * 3)…\(Int32.max) bytes, found \(stride)")
    }
    let qs = scales.map { p in (0..<Int(scaleCount)).map { Int(p[$0]) } } ?? []
    return sessionRun("vgg_session_classify", s) {
        let p = try s.classify(pixels: pixels, width: Int(width), height: Int(height), stride: Int(stride), format: format,
                               scales: qs, flip: flip == 1)
        for (i, c) in Session.top(p, Int(topK)).enumerated() {
            classes[i] = Int32(c.classIndex)
            probabilities[i] = c.probability
        }
    }
}

@_cdecl("vgg_session_preprocess")
public func vgg_session_preprocess(_ session: OpaquePointer?, _ pixels: UnsafePointer<UInt8>?, _ width: Int64, _ height: Int64,
                                   _ stride: Int64, _ pixelFormat: Int32, _ outHeight: Int64, _ outWidth: Int64, _ flip: Int32,
                                   _ output: UnsafeMutablePointer<Float>?, _ outputCapacity: UInt) -> Int32 {
    guard let session else { return fail(.invalidArgument, "vgg_session_preprocess: session is NULL") }
    guard let pixels, let output else { return fail(.invalidArgument, "vgg_session_preprocess: pixels and output must not be NULL") }
    guard let format = PixelFormat(rawValue: pixelFormat) else {
        return fail(.invalidArgument, "vgg_session_preprocess: pixel_format: expected VGG_PIXELS_RGB (0) or VGG_PIXELS_BGR (1), found \(pixelFormat)")
    }
    guard flip == 0 || flip == 1 else { return fail(.invalidArgument, "vgg_session_preprocess: flip: expected 0 or 1, found \(flip)") }
    let maxSide = Int64(Session.maxSide)
    for (v, what) in [(width, "width"), (height, "height"), (outHeight, "out_height"), (outWidth, "out_width")] where v < 1 || v > maxSide {
        return fail(.invalidArgument, "vgg_session_preprocess: \(what): expected 1…\(maxSide), found \(v)")
    }
    guard stride >= width * 3 && stride <= Int64(Int32.max) else {
        return fail(.invalidArgument, "vgg_session_preprocess: stride: expected \(width * 3)…\(Int32.max) bytes, found \(stride)")
    }
    let needed = 3 * Int(outHeight) * Int(outWidth)
    if Int(clamping: outputCapacity) < needed {
        return fail(.bufferTooSmall, "vgg_session_preprocess: output: expected room for 3×\(outHeight)×\(outWidth) = \(needed) floats, found \(outputCapacity)")
    }
    unbox(session, as: Session.self).preprocess(pixels: pixels, width: Int(width), height: Int(height), stride: Int(stride),
                                                format: format, outHeight: Int(outHeight), outWidth: Int(outWidth),
                                                flip: flip == 1, into: output)
    return VGGStatus.ok.rawValue
}
