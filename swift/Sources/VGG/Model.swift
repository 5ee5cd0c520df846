// An opened .vgg file: immutable, memory-mapped, shareable by any number of threads.
import CVGG

/// A .vgg model opened by libvgg (mapped read-only and validated). Immutable and thread-safe
/// (vgg.h): share one Model between threads, and give each thread its own `Session`.
/// The file stays mapped until the Model and all its sessions are gone; replace model files by
/// renaming a new file over the old one, never by rewriting it in place.
public final class Model: @unchecked Sendable {
    let handle: OpaquePointer
    /// The path the model was opened from.
    public let path: String
    public let name: String
    /// Classes of the last layer; 0 for a features-only model.
    public let classCount: Int
    /// The training input size (224×224 for ILSVRC VGG); any size from `minimumInputSide` works.
    public let inputHeight: Int
    public let inputWidth: Int
    public let minimumInputSide: Int
    /// Canonical (Caffe) layer names, e.g. "conv1_1", "pool5", "fc8".
    public let layerNames: [String]
    /// Class labels stored in the file ("n01440764 tench, Tinca tinca"), or [] when it has none.
    public let labels: [String]

    /// Opens `path`; `verifyChecksums` reads the whole file and checks every tensor's CRC-32.
    public init(path: String, verifyChecksums: Bool = false) throws {
        guard !path.utf8.contains(0) else { throw VGGError.invalidArgument("Model(path:): the path contains a NUL character") }
        var raw: OpaquePointer?
        try VGGError.check(vgg_model_open(path, verifyChecksums ? VGG_OPEN_VERIFY_CHECKSUMS : 0, &raw))
        guard let raw else { throw VGGError.invalidArgument("vgg_model_open returned no model") }
        handle = raw
        self.path = path
        func info(_ key: Int32) -> Int {
            var value: Int64 = 0
            return vgg_model_get_info(raw, key, &value) == Int32(VGG_OK.rawValue) ? Int(value) : 0
        }
        name = vgg_model_name(raw).map { String(cString: $0) } ?? ""
        classCount = info(VGG_INFO_CLASS_COUNT)
        inputHeight = info(VGG_INFO_INPUT_HEIGHT)
        inputWidth = info(VGG_INFO_INPUT_WIDTH)
        minimumInputSide = info(VGG_INFO_MIN_INPUT_SIZE)
        layerNames = (0..<Int32(clamping: info(VGG_INFO_LAYER_COUNT))).map { i in
            vgg_model_layer_name(raw, i).map { String(cString: $0) } ?? ""
        }
        labels = (0..<Int32(clamping: info(VGG_INFO_LABEL_COUNT))).map { i in
            vgg_model_label(raw, i).map { String(cString: $0) } ?? ""
        }
    }

    deinit { vgg_model_close(handle) }

    /// The output shape of `layer` (nil: the class score map) for one image of height × width.
    public func outputShape(layer: String? = nil, height: Int, width: Int) throws -> (channels: Int, height: Int, width: Int) {
        var shape = [Int64](repeating: 0, count: 3)
        let status: Int32
        if let layer {
            guard !layer.utf8.contains(0) else { throw VGGError.invalidArgument("layer name \(layer.debugDescription) contains a NUL character") }
            status = vgg_model_output_shape(handle, layer, Int64(height), Int64(width), &shape)
        } else {
            status = vgg_model_output_shape(handle, nil, Int64(height), Int64(width), &shape)
        }
        try VGGError.check(status)
        return (Int(shape[0]), Int(shape[1]), Int(shape[2]))
    }

    /// A new session (workspace) on this model running `threads` threads per call.
    public func makeSession(threads: Int = 1) throws -> Session {
        try Session(model: self, threads: threads)
    }
}
