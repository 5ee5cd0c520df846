// Reads Caffe .caffemodel files (NetParameter, protobuf) in both layouts: V1 `layers`
// (field 2, enum types, blobs field 6; the 2014 Oxford files) and V2 `layer` (field 100,
// string types, blobs field 7). Facts and sources: docs/SOURCE_FORMATS.md ("Caffe .caffemodel").
//
// The NetParameter is split into layer records by ProtobufScanner and each record is decoded
// by protobuf-c on its own (twice: once for the structure, once when its weights are
// written), so peak memory is about one layer's weights, not the whole file.
import CCaffeProto
import CProtobufC
import Glibc
import VGGFormat

struct CaffeBlob {
    var dims: [Int]
    /// Values actually present (data or double_data).
    var count: Int
    var isDouble: Bool
}

struct CaffeLayerRecord {
    var name: String
    var type: String
    var bottoms: [String] = []
    var tops: [String] = []
    var blobs: [CaffeBlob] = []
    /// The record's bytes in the file (nil for layers inferred by the importer).
    var bytes: (offset: Int, length: Int)?
    var isV1 = true
    // Parameters (Caffe defaults when absent).
    var numOutput = 0
    var biasTerm = true
    var kernel = (h: 0, w: 0), stride = (h: 1, w: 1), pad = (h: 0, w: 0)
    var group = 1, dilation = 1, axis = 1
    var transpose = false
    var poolMethod = 0, globalPooling = false, roundMode = PoolRounding.ceil
    var lrnSize = 5, lrnAlpha: Float = 1, lrnBeta: Float = 0.75, lrnK: Float = 1, lrnRegion = 0
    var reluSlope: Float = 0
    var hasV0 = false
}

public struct CaffeImportOptions {
    /// Training input side; nil: from the file's input_dim if any, else 224.
    public var inputSize: Int?
    public init(inputSize: Int? = nil) { self.inputSize = inputSize }
}

/// V1 LayerType enum values to the V2 type strings (Caffe's UpgradeV1LayerType).
private let v1TypeNames: [UInt32: String] = [
    0: "None", 35: "AbsVal", 1: "Accuracy", 30: "ArgMax", 2: "BNLL", 3: "Concat", 37: "ContrastiveLoss",
    4: "Convolution", 5: "Data", 39: "Deconvolution", 6: "Dropout", 32: "DummyData", 7: "EuclideanLoss",
    25: "Eltwise", 38: "Exp", 8: "Flatten", 9: "HDF5Data", 10: "HDF5Output", 28: "HingeLoss", 11: "Im2col",
    12: "ImageData", 13: "InfogainLoss", 14: "InnerProduct", 15: "LRN", 29: "MemoryData",
    16: "MultinomialLogisticLoss", 34: "MVN", 17: "Pooling", 26: "Power", 18: "ReLU", 19: "Sigmoid",
    27: "SigmoidCrossEntropyLoss", 36: "Silence", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split",
    33: "Slice", 23: "TanH", 24: "WindowData", 31: "Threshold",
]

private func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    p.map { String(cString: $0) } ?? ""
}

private func cStrings(_ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ n: Int) -> [String] {
    guard let p else { return [] }
    return (0..<n).map { cString(p[$0]) }
}

/// Blob::FromProto's shape rule: legacy num/channels/height/width if any is set, else shape.dim.
private func blobInfo(_ b: UnsafeMutablePointer<Caffe__BlobProto>) -> CaffeBlob {
    let p = b.pointee
    var dims: [Int]
    if p.has_num != 0 || p.has_channels != 0 || p.has_height != 0 || p.has_width != 0 {
        dims = [Int(p.num), Int(p.channels), Int(p.height), Int(p.width)]
    } else if let shape = p.shape, let d = shape.pointee.dim {
        dims = (0..<Int(shape.pointee.n_dim)).map { Int(clamping: d[$0]) }
    } else {
        dims = []
    }
    let isDouble = p.n_double_data > 0
    return CaffeBlob(dims: dims, count: isDouble ? Int(p.n_double_data) : Int(p.n_data), isDouble: isDouble)
}

private func convParams(_ c: UnsafeMutablePointer<Caffe__ConvolutionParameter>?, into r: inout CaffeLayerRecord) {
    guard let c = c?.pointee else { return }
    r.numOutput = Int(c.num_output)
    r.biasTerm = c.bias_term != 0
    func pair(_ n: Int, _ values: UnsafeMutablePointer<UInt32>?, _ hasH: Int32, _ h: UInt32, _ hasW: Int32, _ w: UInt32,
              default d: Int) -> (h: Int, w: Int) {
        if hasH != 0 || hasW != 0 { return (Int(h), Int(w)) }
        guard n > 0, let v = values else { return (d, d) }
        return (Int(v[0]), Int(v[n > 1 ? 1 : 0]))
    }
    r.kernel = pair(Int(c.n_kernel_size), c.kernel_size, c.has_kernel_h, c.kernel_h, c.has_kernel_w, c.kernel_w, default: 0)
    r.stride = pair(Int(c.n_stride), c.stride, c.has_stride_h, c.stride_h, c.has_stride_w, c.stride_w, default: 1)
    r.pad = pair(Int(c.n_pad), c.pad, c.has_pad_h, c.pad_h, c.has_pad_w, c.pad_w, default: 0)
    r.group = Int(c.group)
    r.axis = Int(c.axis)
    if c.n_dilation > 0, let d = c.dilation {
        r.dilation = (0..<Int(c.n_dilation)).map { Int(d[$0]) }.max() ?? 1
    }
}

private func poolParams(_ c: UnsafeMutablePointer<Caffe__PoolingParameter>?, into r: inout CaffeLayerRecord) {
    guard let c = c?.pointee else { return }
    r.poolMethod = Int(c.pool.rawValue)
    r.kernel = c.has_kernel_h != 0 || c.has_kernel_w != 0 ? (Int(c.kernel_h), Int(c.kernel_w)) : (Int(c.kernel_size), Int(c.kernel_size))
    r.stride = c.has_stride_h != 0 || c.has_stride_w != 0 ? (Int(c.stride_h), Int(c.stride_w)) : (Int(c.stride), Int(c.stride))
    r.pad = c.has_pad_h != 0 || c.has_pad_w != 0 ? (Int(c.pad_h), Int(c.pad_w)) : (Int(c.pad), Int(c.pad))
    r.globalPooling = c.global_pooling != 0
    r.roundMode = c.round_mode.rawValue == 1 ? .floor : .ceil
}

private func ipParams(_ c: UnsafeMutablePointer<Caffe__InnerProductParameter>?, into r: inout CaffeLayerRecord) {
    guard let c = c?.pointee else { return }
    r.numOutput = Int(c.num_output)
    r.biasTerm = c.bias_term != 0
    r.axis = Int(c.axis)
    r.transpose = c.transpose != 0
}

private func lrnParams(_ c: UnsafeMutablePointer<Caffe__LRNParameter>?, into r: inout CaffeLayerRecord) {
    guard let c = c?.pointee else { return }
    r.lrnSize = Int(c.local_size)
    r.lrnAlpha = c.alpha
    r.lrnBeta = c.beta
    r.lrnK = c.k
    r.lrnRegion = Int(c.norm_region.rawValue)
}

/// A source file mapped read-only: VGGFormat's mapping, shared with the engine.
typealias MappedFile = MappedRegularFile

/// Maps a converter input, with the converter's error type.
func mapConverterInput(_ path: String) throws -> MappedFile {
    do {
        return try MappedRegularFile(path: path)
    } catch let e as RegularFileError {
        throw ConvertError(e.message)
    }
}

/// A layer record with the packed float payloads of its blobs cut out, so protobuf-c decodes
/// only the small fields and the weights are read in place from the mapping (a 411 MB fc6 is
/// then never copied). Blobs with unpacked or double data keep it and go through protobuf-c.
struct StrippedRecord {
    var bytes: [UInt8]
    /// For each blob in order: the packed data chunks cut out, or nil if the blob kept its data.
    var blobChunks: [[(UnsafeRawPointer, Int)]?]

    init(file: MappedFile, offset: Int, length: Int, blobField: UInt64) throws {
        let base = file.base + offset
        let fields = try ProtobufScanner(base: base, count: length).fields()
        bytes = []
        blobChunks = []
        func copy(_ from: UnsafeRawPointer, _ start: Int, _ end: Int, into out: inout [UInt8]) {
            out.append(contentsOf: UnsafeRawBufferPointer(start: from + start, count: end - start))
        }
        for f in fields {
            guard f.number == blobField && f.wireType == 2 else {
                copy(base, f.keyOffset, f.end, into: &bytes)
                continue
            }
            let blobBase = base + Int(f.value)
            let blobFields = try ProtobufScanner(base: blobBase, count: f.length).fields()
            let packed = blobFields.filter { $0.number == 5 && $0.wireType == 2 }
            let otherData = blobFields.contains { ($0.number == 5 && $0.wireType != 2) || $0.number == 8 }
            if packed.isEmpty || otherData {
                copy(base, f.keyOffset, f.end, into: &bytes)
                blobChunks.append(nil)
                continue
            }
            var chunks = [(UnsafeRawPointer, Int)]()
            var rest = [UInt8]()
            for bf in blobFields {
                if bf.number == 5 && bf.wireType == 2 {
                    if bf.length % 4 != 0 {
                        throw ConvertError("blob data at byte \(offset + Int(f.value) + bf.keyOffset) is \(bf.length) bytes, not a whole number of float32 values")
                    }
                    chunks.append((blobBase + Int(bf.value), bf.length / 4))
                } else {
                    copy(blobBase, bf.keyOffset, bf.end, into: &rest)
                }
            }
            appendVarint(blobField << 3 | 2, to: &bytes)
            appendVarint(UInt64(rest.count), to: &bytes)
            bytes += rest
            blobChunks.append(chunks)
        }
    }
}

/// One layer record decoded by protobuf-c, V1 or V2 alike; the message is freed with the object.
final class DecodedLayer {
    let name: String, type: String
    let bottoms: [String], tops: [String]
    let blobs: [UnsafeMutablePointer<Caffe__BlobProto>]
    let hasV0: Bool
    let convolution: UnsafeMutablePointer<Caffe__ConvolutionParameter>?
    let pooling: UnsafeMutablePointer<Caffe__PoolingParameter>?
    let innerProduct: UnsafeMutablePointer<Caffe__InnerProductParameter>?
    let lrn: UnsafeMutablePointer<Caffe__LRNParameter>?
    let relu: UnsafeMutablePointer<Caffe__ReLUParameter>?
    private let release: () -> Void

    /// nil when the bytes are not a valid (V1)LayerParameter.
    init?(_ bytes: UnsafeBufferPointer<UInt8>, isV1: Bool) {
        guard let ptr = bytes.baseAddress else { return nil }
        if isV1 {
            guard let m = caffe__v1_layer_parameter__unpack(nil, bytes.count, ptr) else { return nil }
            let l = m.pointee
            let t = l.type.rawValue
            (name, type) = (cString(l.name), v1TypeNames[t] ?? "V1 LayerType \(t)")
            (bottoms, tops) = (cStrings(l.bottom, Int(l.n_bottom)), cStrings(l.top, Int(l.n_top)))
            blobs = (0..<Int(l.n_blobs)).compactMap { l.blobs[$0] }
            hasV0 = l.has_layer != 0
            (convolution, pooling, innerProduct) = (l.convolution_param, l.pooling_param, l.inner_product_param)
            (lrn, relu) = (l.lrn_param, l.relu_param)
            release = { caffe__v1_layer_parameter__free_unpacked(m, nil) }
        } else {
            guard let m = caffe__layer_parameter__unpack(nil, bytes.count, ptr) else { return nil }
            let l = m.pointee
            (name, type) = (cString(l.name), cString(l.type))
            (bottoms, tops) = (cStrings(l.bottom, Int(l.n_bottom)), cStrings(l.top, Int(l.n_top)))
            blobs = (0..<Int(l.n_blobs)).compactMap { l.blobs[$0] }
            hasV0 = false
            (convolution, pooling, innerProduct) = (l.convolution_param, l.pooling_param, l.inner_product_param)
            (lrn, relu) = (l.lrn_param, l.relu_param)
            release = { caffe__layer_parameter__free_unpacked(m, nil) }
        }
    }

    deinit { release() }
}

public enum CaffeImporter {
    /// True when the bytes look like the start of a NetParameter (used for type detection).
    static func looksLikeCaffemodel(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let first = bytes.first else { return false }
        // name(1), layers(2), input(3) as length-delimited; input_dim(4) varint; layer(100) = A2 06.
        return first == 0x0A || first == 0x12 || first == 0x1A || first == 0x20 || (first == 0xA2 && bytes.count > 1 && bytes[1] == 0x06)
    }

    public static func importFile(path: String, options: CaffeImportOptions = CaffeImportOptions()) throws -> CanonicalNetwork {
        let file = try mapConverterInput(path)
        let scanner = ProtobufScanner(base: file.base, count: file.count)
        let fields: [WireField]
        do {
            fields = try scanner.fields()
        } catch let e as ConvertError {
            throw ConvertError("'\(path)' is not a valid caffemodel (NetParameter): \(e.message)")
        }
        var name = "", inputDims = [Int]()
        var v1Records = [WireField](), v2Records = [WireField]()
        for f in fields {
            switch (f.number, f.wireType) {
            case (1, 2): name = String(decoding: UnsafeRawBufferPointer(start: file.base + Int(f.value), count: f.length), as: UTF8.self)
            case (2, 2): v1Records.append(f)
            case (100, 2): v2Records.append(f)
            case (4, 0): inputDims.append(Int(truncatingIfNeeded: Int32(truncatingIfNeeded: f.value)))
            default: break
            }
        }
        if !v1Records.isEmpty && !v2Records.isEmpty {
            throw ConvertError("'\(path)' mixes V1 'layers' (\(v1Records.count)) and V2 'layer' (\(v2Records.count)) entries; Caffe refuses such files too")
        }
        if v1Records.isEmpty && v2Records.isEmpty {
            throw ConvertError("'\(path)' is not a caffemodel: no 'layers' (field 2) or 'layer' (field 100) entries found")
        }
        let isV1 = !v1Records.isEmpty
        var records = [CaffeLayerRecord]()
        for (i, f) in (isV1 ? v1Records : v2Records).enumerated() {
            let r = try decodeLayer(file: file, offset: Int(f.value), length: f.length, isV1: isV1, index: i)
            records.append(r)
        }
        var net = CanonicalNetwork(name: name.isEmpty ? "caffemodel" : name)
        net.source = isV1 ? .caffeV1 : .caffeV2
        if let s = options.inputSize {
            net.inputHeight = s; net.inputWidth = s
        } else if inputDims.count == 4, inputDims[2] > 0, inputDims[3] > 0 {
            net.inputHeight = inputDims[2]; net.inputWidth = inputDims[3]
            net.notes.append("training input size \(inputDims[2])×\(inputDims[3]) taken from the file's input_dim")
        }
        try buildNetwork(records: records, file: file, into: &net)
        return net
    }

    /// Decodes one layer record with protobuf-c, keeping only its structure.
    static func decodeLayer(file: MappedFile, offset: Int, length: Int, isV1: Bool, index: Int) throws -> CaffeLayerRecord {
        defer { file.release(offset: offset, length: length) }
        let stripped: StrippedRecord
        do {
            stripped = try StrippedRecord(file: file, offset: offset, length: length, blobField: isV1 ? 6 : 7)
        } catch let e as ConvertError {
            throw ConvertError("layer record \(index) at byte \(offset) (\(length) bytes) is malformed: \(e.message)")
        }
        return try stripped.bytes.withUnsafeBufferPointer { buffer in
            try decodeStripped(buffer, stripped: stripped, offset: offset, length: length, isV1: isV1, index: index)
        }
    }

    static func decodeStripped(_ buffer: UnsafeBufferPointer<UInt8>, stripped: StrippedRecord, offset: Int, length: Int,
                               isV1: Bool, index: Int) throws -> CaffeLayerRecord {
        guard let ptr = buffer.baseAddress else {
            throw ConvertError("layer record \(index) at byte \(offset) is empty (no name, type or blobs)")
        }
        guard let layer = DecodedLayer(UnsafeBufferPointer(start: ptr, count: buffer.count), isV1: isV1) else {
            throw ConvertError("layer record \(index) at byte \(offset) (\(length) bytes) is not a valid \(isV1 ? "V1LayerParameter" : "LayerParameter") (malformed or truncated protobuf)")
        }
        defer { withExtendedLifetime(layer) {} }  // the parameter pointers point into its message
        var r = CaffeLayerRecord(name: layer.name, type: layer.type)
        r.bytes = (offset, length)
        r.isV1 = isV1
        r.bottoms = layer.bottoms
        r.tops = layer.tops
        r.blobs = layer.blobs.map(blobInfo)
        r.hasV0 = layer.hasV0
        switch r.type {
        case "Convolution": convParams(layer.convolution, into: &r)
        case "Pooling": poolParams(layer.pooling, into: &r)
        case "InnerProduct": ipParams(layer.innerProduct, into: &r)
        case "LRN": lrnParams(layer.lrn, into: &r)
        case "ReLU": if let p = layer.relu { r.reluSlope = p.pointee.negative_slope }
        default: break
        }
        if r.name.isEmpty { r.name = "layer\(index)" }
        // Blobs whose packed data was cut out: their values are counted from the chunks.
        for (i, chunks) in stripped.blobChunks.enumerated() where i < r.blobs.count {
            if let chunks { r.blobs[i].count = chunks.reduce(0) { $0 + $1.1 } }
        }
        return r
    }

    /// Serves a weight layer's blobs as OIHW floats: packed data straight from the mapping,
    /// anything else (unpacked, double) through protobuf-c.
    static func weightProvider(file: MappedFile, record r: CaffeLayerRecord, outputs: Int, inputs: Int) -> WeightProvider {
        return { body in
            guard let bytes = r.bytes else { throw ConvertError("layer '\(r.name)' has no weights in the file") }
            defer { file.release(offset: bytes.offset, length: bytes.length) }
            let stripped = try StrippedRecord(file: file, offset: bytes.offset, length: bytes.length, blobField: r.isV1 ? 6 : 7)
            try stripped.bytes.withUnsafeBufferPointer { buffer in
                guard let layer = DecodedLayer(buffer, isV1: r.isV1) else {
                    throw ConvertError("layer '\(r.name)': record no longer decodes (file changed during conversion?)")
                }
                let blobs = layer.blobs
                defer { withExtendedLifetime(layer) {} }  // the blobs point into its message
                /// Blob i's values, wherever they are.
                func withBlob(_ i: Int, _ what: String, _ use: (WeightSource) throws -> Void) throws {
                    if i < stripped.blobChunks.count, let chunks = stripped.blobChunks[i] {
                        return try use(WeightSource(chunks: chunks))
                    }
                    guard i < blobs.count else { throw ConvertError("layer '\(r.name)' has no \(what) blob") }
                    try withFloats(blobs[i].pointee, name: "\(r.name) \(what)") { try use(WeightSource($0)) }
                }
                func withBias(_ oihw: WeightSource) throws {
                    guard r.biasTerm else { return try body(oihw, nil) }
                    try withBlob(1, "bias") { b in
                        guard b.count == outputs else {
                            throw ConvertError("layer '\(r.name)' bias: expected \(outputs) values, found \(b.count)")
                        }
                        try body(oihw, b)
                    }
                }
                try withBlob(0, "weight") { weights in
                    guard weights.count == outputs * inputs else {
                        throw ConvertError("layer '\(r.name)' weights: expected \(outputs * inputs) values, found \(weights.count)")
                    }
                    if r.transpose {  // InnerProduct with transpose: stored (K, N), wanted (N, K)
                        var stored = [Float](repeating: 0, count: weights.count)
                        stored.withUnsafeMutableBufferPointer { weights.copy(from: 0, count: weights.count, into: $0.baseAddress!) }
                        var t = [Float](repeating: 0, count: weights.count)
                        for k in 0..<inputs { for n in 0..<outputs { t[n * inputs + k] = stored[k * outputs + n] } }
                        try t.withUnsafeBufferPointer { try withBias(WeightSource($0)) }
                    } else {
                        try withBias(weights)
                    }
                }
            }
        }
    }

    /// The blob's values as floats (double_data converted).
    static func withFloats(_ b: Caffe__BlobProto, name: String, _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws {
        if b.n_double_data > 0, let d = b.double_data {
            var floats = [Float](repeating: 0, count: Int(b.n_double_data))
            for i in 0..<floats.count { floats[i] = Float(d[i]) }
            try floats.withUnsafeBufferPointer { try body($0) }
        } else {
            try body(UnsafeBufferPointer(start: b.data, count: Int(b.n_data)))
        }
    }
}
