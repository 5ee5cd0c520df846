// The .vgg byte layout (docs/FORMAT.md): constants and plain records shared by the writer
// (converter) and the reader (engine). No validation here: that is the reader's job.

public enum VGGFile {
    /// `\x89VGG\r\n\x1a\n`.
    public static let magic: [UInt8] = [0x89, 0x56, 0x47, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Written by this converter; readers take 1 and 2 (2 added the OGROUP1024 layout).
    public static let version: UInt32 = 2
    public static let oldestVersion: UInt32 = 1
    public static let headerSize = 256
    public static let layerRecordSize = 128
    public static let tensorRecordSize = 64
    public static let strrefSize = 8
    public static let tensorAlignment = 4096
    public static let metadataCRCOffset = 252

    public static let maxLayers = 1024
    public static let maxTensors = 2048
    public static let maxStringTableSize = 16 << 20
    public static let maxModelNameLength = 255
    public static let maxLayerNameLength = 63
    public static let maxTensorNameLength = 127
    public static let maxLabelLength = 1023
    public static let maxKernel: UInt32 = 64
    public static let maxStride: UInt32 = 64
    public static let maxChannels: UInt32 = 65536
    public static let maxInputSide: UInt32 = 65536
    public static let noTensor: UInt32 = 0xFFFF_FFFF
    /// Output channels are grouped in blocks of this many (the SIMD width in floats).
    public static let channelBlock = 16
    /// Output channels per group of an OGROUP1024 weight (4 KiB of f32 per tap: a page).
    public static let outputGroup = 1024
}

public enum LayerKind: UInt32, Sendable {
    case convolution = 1, maxPool = 2, averagePool = 3, lrn = 4
}

public enum PoolRounding: UInt32, Sendable {
    case ceil = 0, floor = 1
}

public enum ChannelOrder: UInt32, Sendable {
    case bgr = 0, rgb = 1
}

public enum DType: UInt32, Sendable {
    case f32 = 1, f16 = 2, bf16 = 3
    public var size: Int { self == .f32 ? 4 : 2 }
    public var name: String {
        switch self { case .f32: return "f32"; case .f16: return "f16"; case .bf16: return "bf16" }
    }
}

public enum TensorLayout: UInt32, Sendable {
    /// `[ceil(O/16)][I][KH][KW][16]`, zero lanes past O.
    case oBlock16 = 1
    /// `[ceil(N/16)*16]`, zero padded.
    case vector16 = 2
    /// `[G][I][KH][KW][W_g]`: output channels in groups of 1024, the group's channels innermost
    /// (the last group `ceil(O/16)·16 − 1024·(G−1)` wide, zero lanes past O); f32 weights of the
    /// fc layers only (format version 2). A tap's weights for a whole group are one 4 KiB page,
    /// so a zero input's can be skipped without the prefetchers reading them.
    case oGroup1024 = 3
}

/// Width of group `group` of an OGROUP1024 weight with `outChannels` outputs.
public func outputGroupWidth(outChannels: Int, group: Int) -> Int {
    let padded = (outChannels + VGGFile.channelBlock - 1) / VGGFile.channelBlock * VGGFile.channelBlock
    return min(VGGFile.outputGroup, padded - group * VGGFile.outputGroup)
}

/// The fc layers: the first layer after the last pooling layer when every layer from there to
/// the end is a convolution (nil otherwise). Only these may store OGROUP1024 weights.
/// Generic so the engine can ask about a lazy view of its layers without allocating per run.
public func firstFCLayer<Kinds: BidirectionalCollection>(_ kinds: Kinds) -> Kinds.Index? where Kinds.Element == LayerKind {
    guard let lastPool = kinds.lastIndex(where: { $0 == .maxPool || $0 == .averagePool }) else { return nil }
    let start = kinds.index(after: lastPool)
    guard start < kinds.endIndex else { return nil }
    return kinds[start...].allSatisfy { $0 == .convolution } ? start : nil
}

public enum SourceFormat: UInt32, Sendable {
    case other = 0, caffeV1 = 1, caffeV2 = 2, caffeHDF5 = 3, kerasHDF5 = 4, keras3 = 5
    public var name: String {
        switch self {
        case .other: return "other"
        case .caffeV1: return "caffemodel (V1 layers)"
        case .caffeV2: return "caffemodel (V2 layer)"
        case .caffeHDF5: return "Caffe HDF5"
        case .kerasHDF5: return "Keras HDF5"
        case .keras3: return "Keras 3 weights.h5"
        }
    }
}

public enum LayerFlag {
    public static let relu: UInt32 = 1
    public static let fromInnerProduct: UInt32 = 2
    public static let all: UInt32 = 3
}

/// Header field offsets.
public enum HeaderField {
    public static let magic = 0
    public static let version = 8
    public static let headerSize = 12
    public static let fileSize = 16
    public static let layerCount = 24
    public static let tensorCount = 28
    public static let layerTableOffset = 32
    public static let tensorTableOffset = 40
    public static let labelTableOffset = 48
    public static let stringTableOffset = 56
    public static let stringTableSize = 64
    public static let modelName = 72
    public static let inputChannels = 80
    public static let inputHeight = 84
    public static let inputWidth = 88
    public static let channelOrder = 92
    public static let mean = 96
    public static let scale = 108
    public static let labelCount = 120
    public static let sourceFormat = 124
    public static let reservedStart = 128
    public static let reservedEnd = 252
}

public enum LayerField {
    public static let kind = 0, flags = 4, name = 8, alias = 16
    public static let inChannels = 24, outChannels = 28
    public static let kernelH = 32, kernelW = 36, strideH = 40, strideW = 44, padH = 48, padW = 52
    public static let rounding = 56, weightTensor = 60, biasTensor = 64
    public static let lrnLocalSize = 68, lrnAlpha = 72, lrnBeta = 76, lrnK = 80
    public static let reservedStart = 84
}

public enum TensorField {
    public static let name = 0, dtype = 8, layout = 12, dims = 16, offset = 32, byteLength = 40
    public static let crc32 = 48, reservedStart = 52
}

/// Element count of a tensor in its stored layout, nil on overflow.
public func storedElementCount(layout: TensorLayout, dims: (UInt32, UInt32, UInt32, UInt32)) -> Int? {
    let block = VGGFile.channelBlock
    let padded = (Int(dims.0) + block - 1) / block * block
    switch layout {
    case .vector16:
        return padded
    case .oBlock16, .oGroup1024:
        var (n, o) = padded.multipliedReportingOverflow(by: Int(dims.1))
        if o { return nil }
        (n, o) = n.multipliedReportingOverflow(by: Int(dims.2)); if o { return nil }
        (n, o) = n.multipliedReportingOverflow(by: Int(dims.3)); if o { return nil }
        return n
    }
}

/// Geometry of one convolution call on blocked activations `[C/16][H][W][16]` (with zero
/// borders), shared by the engine and the per-ISA kernel modules.
public struct ConvGeometry: Sendable {
    public var inChannels = 0
    /// Input buffer height and width, borders included.
    public var inHeight = 0, inWidth = 0
    /// Where the convolution's (−pad, −pad) origin lies in the input buffer: border − pad ≥ 0.
    public var originY = 0, originX = 0
    public var outChannels = 0
    public var outHeight = 0, outWidth = 0
    /// Zero border around the output (the next layer's padding).
    public var outBorder = 0
    public var kernelH = 1, kernelW = 1
    public var strideH = 1, strideW = 1
    public var relu = false
    public init() {}

    public var outBufferHeight: Int { outHeight + 2 * outBorder }
    public var outBufferWidth: Int { outWidth + 2 * outBorder }
    public var outBlocks: Int { (outChannels + 15) / 16 }
    public var taps: Int { inChannels * kernelH * kernelW }
}

/// Geometry of one pooling call on blocked activations, shared by the engine and the kernels.
public struct PoolGeometry: Sendable {
    public var inHeight = 0, inWidth = 0, inBorder = 0
    public var outHeight = 0, outWidth = 0, outBorder = 0
    public var kernelH = 1, kernelW = 1, strideH = 1, strideW = 1, padH = 0, padW = 0
    public var isMax = true
    public init() {}
}

/// Geometry of a Winograd F(m×m, 3×3) convolution (3×3, stride 1, pad 1) on blocked activations,
/// m = `tileSize` (4 or 6): m×m output tiles computed from (m+2)×(m+2) input patches, (m+2)²
/// transform points ξ.
public struct WinogradGeometry: Sendable {
    public var inChannels = 0
    /// Input buffer size (border included) and border; the border must be ≥ tileSize: the last
    /// tile's patch reads up to tileSize rows and columns past the image (zeros there, like the padding).
    public var inBufferHeight = 0, inBufferWidth = 0, inBorder = 0
    public var outChannels = 0
    public var outHeight = 0, outWidth = 0, outBorder = 0
    public var relu = false
    /// Output tile side: 4 for F(4×4, 3×3) (36 points), 6 for F(6×6, 3×3) (64 points).
    public var tileSize = 4
    /// Images run together (tiles of image k follow those of image k − 1) and the floats
    /// between consecutive images' input and output buffers.
    public var images = 1, inImageFloats = 0, outImageFloats = 0
    /// When true, a 2×2 stride-2 max pooling follows in the same pass: the output buffer holds
    /// the pooled map (pooledHeight × pooledWidth, border pooledBorder) and the convolution's
    /// output is never written (windows clipped to the image: ceil and floor rounding alike).
    public var pool = false
    public var pooledHeight = 0, pooledWidth = 0, pooledBorder = 0
    public init() {}
    /// The input border Winograd layers need: the larger tile reads up to 6 rows past the image.
    public static let minimumBorder = 6
    /// Transform points: (tileSize + 2)².
    public var points: Int { (tileSize + 2) * (tileSize + 2) }
    public var tilesH: Int { (outHeight + tileSize - 1) / tileSize }
    public var tilesW: Int { (outWidth + tileSize - 1) / tileSize }
    public var imageTiles: Int { tilesH * tilesW }
    public var tiles: Int { imageTiles * images }
    public var inBlocks: Int { (inChannels + 15) / 16 }
    public var outBlocks: Int { (outChannels + 15) / 16 }
    /// Input channels whose transformed weights are made and used at a time (a multiple of 16):
    /// U[ξ][c][2][16] of one output-block pair for 64 channels is 288 KiB (F(4×4)) and stays in L2 (a
    /// whole 512-channel pair, 2.3 MiB, went out to L3 and back: 11% of a run, measured). The
    /// engine sets all channels (≤ 128) where a worker keeps every pair's U for the layer.
    public var channelChunk = 64
    /// Floats between consecutive ξ in U[ξ][c][2][16] of one chunk, padded by 16 like V and M:
    /// unpadded, the 36 stores of one channel's transform (8 KiB apart) shared one L1 set.
    public var weightStride: Int { channelChunk * 32 + 16 }
    /// Floats of the transformed weights of one output-block pair and channel chunk.
    public var pairWeightFloats: Int { points * weightStride }
    /// 32-bit words between consecutive ξ of the same weights packed as bf16 pairs (padded likewise).
    public var packedStride: Int { channelChunk * 16 + 16 }
    /// Floats between consecutive ξ in V[ξ][input block][tile][16] of a `tiles`-tile group. The
    /// extra 16 floats keep the points of one tile out of the same L1 set (a multiple of
    /// 4 KiB between them made the transforms ~2× slower, measured).
    public func inputStride(tiles: Int) -> Int { inBlocks * tiles * 16 + 16 }
    /// Floats of the transformed inputs of a `tiles`-tile group.
    public func inputFloats(tiles: Int) -> Int { points * inputStride(tiles: tiles) }
    /// Floats between consecutive ξ in a product task's M[ξ][tile][2][16] (padded likewise).
    public static func productStride(tiles: Int) -> Int { tiles * 32 + 16 }
    /// Floats of the products of a `tiles`-tile task.
    public func productFloats(tiles: Int) -> Int { points * WinogradGeometry.productStride(tiles: tiles) }
}
