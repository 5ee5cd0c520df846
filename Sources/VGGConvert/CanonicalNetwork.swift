// The canonical network every importer produces and the writer consumes: layers with Caffe
// semantics, float weights in Caffe OIHW order, preprocessing and labels. Nothing downstream
// knows which file type it came from.
import VGGFormat

/// Float32 values that may lie unaligned in a mapped file, possibly split into several
/// chunks (a packed protobuf field sent as several records): read by copying ranges out.
public struct WeightSource {
    public let count: Int
    /// (start, float count) of each chunk; little-endian float32 bytes.
    let chunks: [(UnsafeRawPointer, Int)]

    public init(_ floats: UnsafeBufferPointer<Float>) {
        count = floats.count
        chunks = floats.baseAddress.map { [(UnsafeRawPointer($0), floats.count)] } ?? []
    }

    public init(chunks: [(UnsafeRawPointer, Int)]) {
        self.chunks = chunks
        count = chunks.reduce(0) { $0 + $1.1 }
    }

    /// Copies values [start, start + n) into `dest` (the caller keeps the range in bounds).
    public func copy(from start: Int, count n: Int, into dest: UnsafeMutablePointer<Float>) {
        var skip = start, remaining = n, out = dest
        for (base, length) in chunks where remaining > 0 {
            if skip >= length { skip -= length; continue }
            let take = min(length - skip, remaining)
            UnsafeMutableRawPointer(out).copyMemory(from: base + skip * 4, byteCount: take * 4)
            out += take
            remaining -= take
            skip = 0
        }
    }

    public subscript(i: Int) -> Float {
        var v: Float = 0
        copy(from: i, count: 1, into: &v)
        return v
    }
}

/// Hands the layer's weights (OIHW order) and bias to `body`; the sources are valid only
/// during the call, so importers can serve them from a mapping or a temporary.
public typealias WeightProvider = (_ body: (WeightSource, WeightSource?) throws -> Void) throws -> Void

public struct CanonicalLayer {
    public var kind: LayerKind
    public var name: String
    public var alias = ""
    public var relu = false
    public var fromInnerProduct = false
    public var inChannels = 0
    public var outChannels = 0
    public var kernelH = 1, kernelW = 1
    public var strideH = 1, strideW = 1
    public var padH = 0, padW = 0
    public var rounding = PoolRounding.ceil
    public var lrnLocalSize = 0
    public var lrnAlpha: Float = 0, lrnBeta: Float = 0, lrnK: Float = 0
    public var hasBias = false
    public var weights: WeightProvider?

    public init(kind: LayerKind, name: String) {
        self.kind = kind
        self.name = name
    }

    public var parameterCount: Int {
        kind == .convolution ? outChannels * inChannels * kernelH * kernelW + (hasBias ? outChannels : 0) : 0
    }
}

public struct CanonicalNetwork {
    public var name: String
    public var layers: [CanonicalLayer] = []
    public var inputHeight = 224
    public var inputWidth = 224
    public var channelOrder = ChannelOrder.bgr
    /// In the network's channel order.
    public var mean: [Float] = [103.939, 116.779, 123.68]
    public var scale: [Float] = [1, 1, 1]
    public var labels: [String] = []
    public var source = SourceFormat.other
    /// What the importer inferred or assumed, for the user.
    public var notes: [String] = []

    public init(name: String) { self.name = name }

    public var classCount: Int {
        guard let last = layers.last, last.kind == .convolution, last.fromInnerProduct else { return 0 }
        return last.outChannels
    }
}

/// Standard VGG layer names: Caffe's are canonical, Keras's the aliases (one table, both ways).
public enum LayerNames {
    /// The Keras name of a canonical Caffe VGG layer name, or "" if it has none.
    public static func kerasAlias(ofCaffe name: String) -> String {
        switch name {
        case "fc6": return "fc1"
        case "fc7": return "fc2"
        case "fc8": return "predictions"
        default: break
        }
        let parts = name.split(separator: "_")
        if parts.count == 2, parts[0].hasPrefix("conv"), let b = Int(parts[0].dropFirst(4)), let i = Int(parts[1]) {
            return "block\(b)_conv\(i)"
        }
        if parts.count == 1, name.hasPrefix("pool"), let b = Int(name.dropFirst(4)) {
            return "block\(b)_pool"
        }
        return ""
    }

    /// The canonical Caffe name of a Keras VGG layer name, or nil if it is not a standard one.
    public static func caffeName(ofKeras name: String) -> String? {
        switch name {
        case "fc1": return "fc6"
        case "fc2": return "fc7"
        case "predictions": return "fc8"
        default: break
        }
        let parts = name.split(separator: "_")
        guard parts.count == 2, parts[0].hasPrefix("block"), let b = Int(parts[0].dropFirst(5)) else { return nil }
        if parts[1] == "pool" { return "pool\(b)" }
        if parts[1].hasPrefix("conv"), let i = Int(parts[1].dropFirst(4)) { return "conv\(b)_\(i)" }
        return nil
    }
}

public struct ConvertError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
