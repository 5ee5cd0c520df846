// The kernel ABI: the function table each per-ISA kernel module (VGGKernelsBase, VGGKernelsV3,
// VGGKernelsV4) exports as `kernelFunctions`, built from the same shared sources with its own
// -march, and of which the engine picks one (KernelDispatch.swift). One type for the three, so
// the engine names each function once. The geometry structs the kernels take live in
// VGGFormat (Layout.swift), beside the layouts they describe.
import VGGFormat

public typealias RowsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?,
                               UnsafeMutablePointer<Float>, ConvGeometry, Int, Int, Int) -> Void
public typealias PixelsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?,
                                 UnsafeMutablePointer<Float>, ConvGeometry, UnsafePointer<Int>, Int, Int, Int) -> Void
public typealias GatherKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?,
                                 UnsafeMutablePointer<Float>, ConvGeometry, UnsafePointer<Int>, UnsafePointer<Int>,
                                 UnsafePointer<Int>, Int, Int, Int, Int, Int, Bool, UnsafePointer<UInt32>?, Bool) -> Void
public typealias SparsePixelKernel = (UnsafePointer<Float>, UnsafePointer<UInt32>, Int, UnsafeRawPointer, UInt32,
                                      UnsafePointer<Float>?, UnsafeMutablePointer<Float>, ConvGeometry, Int, Int, Int) -> Void
public typealias GroupedPixelKernel = (UnsafePointer<Float>, UnsafePointer<UInt32>, Int, UnsafeRawPointer,
                                       UnsafePointer<Float>?, UnsafeMutablePointer<Float>, ConvGeometry, Int, Int, Int, Int,
                                       UnsafeMutablePointer<Float>) -> Void
public typealias PoolKernel = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, PoolGeometry, Int, Int) -> Void
public typealias WinogradInputKernel = (UnsafePointer<Float>, WinogradGeometry, Int, Int, Int, Int, Int,
                                        UnsafeMutablePointer<Float>) -> Void
public typealias WinogradInputTilesKernel = (UnsafePointer<Float>, WinogradGeometry, Int, Int, Int, Int, Int,
                                             UnsafeMutablePointer<UInt16>) -> Void
public typealias WinogradWeightsKernel = (UnsafeRawPointer, UInt32, WinogradGeometry, Int, Int, Int,
                                          UnsafeMutablePointer<Float>) -> Void
public typealias WinogradProductsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?,
                                           UnsafeMutablePointer<Float>, WinogradGeometry, Int, Int, Int, Int, Int,
                                           UnsafeMutablePointer<Float>, Bool, UnsafeMutablePointer<Float>,
                                           UnsafePointer<UInt16>?, UnsafeMutablePointer<UInt32>?, Bool, Int, Int) -> Void

/// Every kernel of one ISA level; the parameters of each are documented where it is defined
/// (Sources/VGGKernelsShared).
public struct KernelFunctions {
    /// Output blocks one `rows` call computes (2 where the tile covers a block pair).
    public let blockStep: Int
    /// Direct convolution (DirectConvolution.swift): output rows, or single pixels.
    public let rows: RowsKernel
    public let pixels: PixelsKernel
    /// The fc layers (FullyConnected.swift): 8-pixel gather tiles; a lone pixel from its
    /// non-zero inputs, with OBLOCK16 or f32 OGROUP1024 weights.
    public let gather: GatherKernel
    public let sparsePixel: SparsePixelKernel
    public let groupedPixel: GroupedPixelKernel
    /// Pooling.swift: one output row of one channel block.
    public let pool: PoolKernel
    /// Winograd F(4×4, 3×3) and F(6×6, 3×3) (Winograd.swift): input transform, weight
    /// transform of an output-block pair, products and output transform.
    public let winogradInput: WinogradInputKernel
    /// The F(4×4) input transform straight into the bf16 rows AMX tiles read.
    public let winogradInputTiles: WinogradInputTilesKernel
    public let winogradWeights: WinogradWeightsKernel
    public let winogradProducts: WinogradProductsKernel

    public init(blockStep: Int, rows: @escaping RowsKernel, pixels: @escaping PixelsKernel, gather: @escaping GatherKernel,
                sparsePixel: @escaping SparsePixelKernel, groupedPixel: @escaping GroupedPixelKernel,
                pool: @escaping PoolKernel, winogradInput: @escaping WinogradInputKernel,
                winogradInputTiles: @escaping WinogradInputTilesKernel, winogradWeights: @escaping WinogradWeightsKernel, winogradProducts: @escaping WinogradProductsKernel) {
        self.blockStep = blockStep
        self.rows = rows
        self.pixels = pixels
        self.gather = gather
        self.sparsePixel = sparsePixel
        self.groupedPixel = groupedPixel
        self.pool = pool
        self.winogradInput = winogradInput
        self.winogradInputTiles = winogradInputTiles
        self.winogradWeights = winogradWeights
        self.winogradProducts = winogradProducts
    }
}
