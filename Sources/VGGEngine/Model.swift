// An opened, fully validated .vgg model: immutable, shared by any number of sessions and threads.
import VGGFormat

/// A weight tensor inside the mapping, in its stored layout.
public struct Tensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let layout: TensorLayout
    public let dims: (UInt32, UInt32, UInt32, UInt32)
    public let data: UnsafeRawPointer
    public let byteLength: Int
    public let offset: Int
    public let crc32: UInt32
}

/// One layer of the network, as stored (see docs/FORMAT.md).
public struct Layer: @unchecked Sendable {
    public let kind: LayerKind
    public let relu: Bool
    public let fromInnerProduct: Bool
    public let name: String
    public let alias: String
    public let inChannels: Int
    public let outChannels: Int
    public let kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int
    public let rounding: PoolRounding
    public let weight: Tensor?
    public let bias: Tensor?
    public let lrnLocalSize: Int
    public let lrnAlpha: Float, lrnBeta: Float, lrnK: Float

    /// Number of weights and biases (real, not padded).
    public var parameterCount: Int {
        guard kind == .convolution else { return 0 }
        return outChannels * inChannels * kernelH * kernelW + (bias == nil ? 0 : outChannels)
    }
}

public struct ModelOpenOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Verify every tensor's CRC-32 while opening (reads the whole file).
    public static let verifyChecksums = ModelOpenOptions(rawValue: 1)
    public static let all: ModelOpenOptions = [.verifyChecksums]
}

public final class Model: @unchecked Sendable {
    public let mapping: FileMapping
    public let name: String
    public let layers: [Layer]
    public let tensors: [Tensor]
    public let inputChannels: Int
    public let inputHeight: Int
    public let inputWidth: Int
    public let channelOrder: ChannelOrder
    public let mean: [Float]
    public let scale: [Float]
    public let labels: [String]
    /// NUL-terminated label bytes inside the mapping, for the C ABI.
    public let labelPointers: [UnsafePointer<CChar>]
    /// NUL-terminated layer names inside the mapping, for the C ABI.
    public let layerNamePointers: [UnsafePointer<CChar>]
    public let namePointer: UnsafePointer<CChar>
    public let sourceFormat: SourceFormat
    /// The file's format_version (1 or 2; docs/FORMAT.md).
    public let formatVersion: Int
    /// Winograd-transformed weights its sessions made, shared by all of them (KeptWeights.swift).
    let keptWeights = KeptWeightsStore()

    /// Bytes of transformed Winograd weights the model keeps now.
    public var keptWeightBytes: Int { keptWeights.locked { _, used in used } * 4 }

    /// Opens and validates a file.
    public convenience init(path: String, options: ModelOpenOptions = []) throws {
        try self.init(mapping: FileMapping(path: path), options: options)
    }

    /// Validates `mapping` completely before anything is used (docs/FORMAT.md, "Reading rules").
    public init(mapping: FileMapping, options: ModelOpenOptions = []) throws {
        self.mapping = mapping
        let r = try ModelReader(mapping: mapping)
        let parsed = try r.read(verifyChecksums: options.contains(.verifyChecksums))
        name = parsed.name
        namePointer = parsed.namePointer
        layers = parsed.layers
        tensors = parsed.tensors
        inputChannels = parsed.inputChannels
        inputHeight = parsed.inputHeight
        inputWidth = parsed.inputWidth
        channelOrder = parsed.channelOrder
        mean = parsed.mean
        scale = parsed.scale
        labels = parsed.labels
        labelPointers = parsed.labelPointers
        layerNamePointers = parsed.layerNamePointers
        sourceFormat = parsed.sourceFormat
        formatVersion = parsed.formatVersion
    }

    /// Number of classes: the last layer's channels when it is a former fc layer, else 0
    /// (a features-only model such as a Keras `notop` file).
    public var classCount: Int {
        guard let last = layers.last, last.kind == .convolution, last.fromInnerProduct else { return 0 }
        return last.outChannels
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }

    /// Finds a layer by canonical name, Keras alias, or `reluN_M`-style name of a fused ReLU.
    public func layerIndex(named query: String) -> Int? {
        if let i = layers.firstIndex(where: { $0.name == query || (!$0.alias.isEmpty && $0.alias == query) }) {
            return i
        }
        // Caffe's in-place ReLU "relu1_1" / "relu6" names the output of conv1_1 / fc6.
        if query.hasPrefix("relu") {
            let suffix = query.dropFirst(4)
            if let i = layers.firstIndex(where: { $0.relu && ($0.name == "conv" + suffix || $0.name == "fc" + suffix) }) {
                return i
            }
        }
        return nil
    }

    /// Verifies every tensor's CRC-32; throws `.checksum` naming the first bad tensor.
    public func verifyChecksums() throws { try verifyTensorChecksums(tensors) }
}

/// Checks every tensor's CRC-32; throws `.checksum` naming the first bad tensor.
func verifyTensorChecksums(_ tensors: [Tensor]) throws {
    for t in tensors {
        let c = CRC32.checksum(UnsafeRawBufferPointer(start: t.data, count: t.byteLength))
        if c != t.crc32 {
            throw VGGError(.checksum, "tensor '\(t.name)' checksum: expected 0x\(hex(t.crc32)) (stored), computed 0x\(hex(c))")
        }
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
}
