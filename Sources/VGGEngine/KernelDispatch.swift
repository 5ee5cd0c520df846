// The kernel dispatch table, filled once from the CPU's features: x86-64-v4, x86-64-v3 or
// baseline. `VGG_FORCE_REFERENCE=1` in the environment, or the session option, selects the
// naive reference path instead.
import CVggSupport
import Glibc
import VGGFormat
import VGGKernelsBase
import VGGKernelsV3
import VGGKernelsV4

public enum KernelPath: String, Sendable {
    case x86_64_v4 = "x86-64-v4"
    case x86_64_v3 = "x86-64-v3"
    case baseline = "x86-64"
    case reference = "reference"
}

typealias RowsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?, UnsafeMutablePointer<Float>,
                        ConvGeometry, Int, Int, Int) -> Void
typealias PixelsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?, UnsafeMutablePointer<Float>,
                          ConvGeometry, UnsafePointer<Int>, Int, Int, Int) -> Void

typealias GatherKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?, UnsafeMutablePointer<Float>,
                          ConvGeometry, UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Int>, Int, Int, Int, Int, Int, Bool,
                          UnsafePointer<UInt32>?, Bool) -> Void
typealias SparsePixelKernel = (UnsafePointer<Float>, UnsafePointer<UInt32>, Int, UnsafeRawPointer, UInt32, UnsafePointer<Float>?,
                                UnsafeMutablePointer<Float>, ConvGeometry, Int, Int, Int) -> Void
typealias GroupedPixelKernel = (UnsafePointer<Float>, UnsafePointer<UInt32>, Int, UnsafeRawPointer, UnsafePointer<Float>?,
                                 UnsafeMutablePointer<Float>, ConvGeometry, Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
typealias PoolKernel = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, PoolGeometry, Int, Int) -> Void
typealias WinogradInputKernel = (UnsafePointer<Float>, WinogradGeometry, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
typealias WinogradWeightsKernel = (UnsafeRawPointer, UInt32, WinogradGeometry, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
typealias WinogradProductsKernel = (UnsafePointer<Float>, UnsafeRawPointer, UInt32, UnsafePointer<Float>?, UnsafeMutablePointer<Float>,
                                    WinogradGeometry, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>, Bool,
                                    UnsafeMutablePointer<Float>, UnsafePointer<UInt16>?, UnsafeMutablePointer<UInt32>?) -> Void

/// Winograd F(4×4, 3×3) kernels of one ISA (see WinogradKernels.swift); faster than direct
/// convolution on every level (VGG16 224, 2 threads: v4 171 → 76 ms, v3 338 → 96, baseline 669 → 211).
struct WinogradKernels {
    let input: WinogradInputKernel
    let weights: WinogradWeightsKernel
    let products: WinogradProductsKernel
}

struct KernelTable {
    let path: KernelPath
    /// Output blocks one `rows` call computes (2 where the tile covers a block pair).
    let blockStep: Int
    let rows: RowsKernel
    let pixels: PixelsKernel
    let gather: GatherKernel
    /// A lone fc pixel from its non-zero inputs (runSparsePixel).
    let sparsePixel: SparsePixelKernel
    /// A lone fc pixel of f32 OGROUP1024 weights from its non-zero inputs (runGroupedPixel).
    let groupedPixel: GroupedPixelKernel
    let pool: PoolKernel
    /// nil where Winograd is not offered (the direct kernel then serves every 3×3 layer).
    let winograd: WinogradKernels?

    static let v4 = KernelTable(path: .x86_64_v4, blockStep: VGGKernelsV4.pairBlocks ? 2 : 1,
        rows: { VGGKernelsV4.Kernels.convolutionRows(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, rowStart: $7, rowEnd: $8) },
        pixels: { VGGKernelsV4.Kernels.convolutionPixels(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, block: $7, pixelStart: $8, pixelEnd: $9) },
        gather: { VGGKernelsV4.Kernels.convolutionGather(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, pixelInput: $7, pixelOutput: $8, pixels: $9, outPlane: $10, block: $11, tapStart: $12, tapEnd: $13, grouped: $14, tapList: $15, last: $16) },
        sparsePixel: { VGGKernelsV4.Kernels.convolutionSparsePixel(values: $0, taps: $1, count: $2, weights: $3, dtype: $4, bias: $5, output: $6, geometry: $7, outPlane: $8, at: $9, block: $10) },
        groupedPixel: { VGGKernelsV4.Kernels.convolutionGroupedPixel(values: $0, taps: $1, count: $2, weights: $3, bias: $4, output: $5, geometry: $6, outPlane: $7, at: $8, firstBlock: $9, blocks: $10, sums: $11) },
        pool: { VGGKernelsV4.Kernels.poolRow(input: $0, output: $1, geometry: $2, block: $3, row: $4) },
        winograd: WinogradKernels(
            input: { VGGKernelsV4.Kernels.winogradInput(input: $0, geometry: $1, inputBlock: $2, groupStart: $3, groupTiles: $4, tileStart: $5, tileEnd: $6, into: $7) },
            weights: { VGGKernelsV4.Kernels.winogradPairWeights(weights: $0, dtype: $1, geometry: $2, block: $3, first: $4, count: $5, into: $6) },
            products: { VGGKernelsV4.Kernels.winogradPairProducts(v: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, groupStart: $7, groupTiles: $8, tileStart: $9, tileEnd: $10, transformedWeights: $11, weightsReady: $12, products: $13, bf16Inputs: $14, bf16Pairs: $15) }))
    static let v3 = KernelTable(path: .x86_64_v3, blockStep: VGGKernelsV3.pairBlocks ? 2 : 1,
        rows: { VGGKernelsV3.Kernels.convolutionRows(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, rowStart: $7, rowEnd: $8) },
        pixels: { VGGKernelsV3.Kernels.convolutionPixels(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, block: $7, pixelStart: $8, pixelEnd: $9) },
        gather: { VGGKernelsV3.Kernels.convolutionGather(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, pixelInput: $7, pixelOutput: $8, pixels: $9, outPlane: $10, block: $11, tapStart: $12, tapEnd: $13, grouped: $14, tapList: $15, last: $16) },
        sparsePixel: { VGGKernelsV3.Kernels.convolutionSparsePixel(values: $0, taps: $1, count: $2, weights: $3, dtype: $4, bias: $5, output: $6, geometry: $7, outPlane: $8, at: $9, block: $10) },
        groupedPixel: { VGGKernelsV3.Kernels.convolutionGroupedPixel(values: $0, taps: $1, count: $2, weights: $3, bias: $4, output: $5, geometry: $6, outPlane: $7, at: $8, firstBlock: $9, blocks: $10, sums: $11) },
        pool: { VGGKernelsV3.Kernels.poolRow(input: $0, output: $1, geometry: $2, block: $3, row: $4) },
        winograd: WinogradKernels(
            input: { VGGKernelsV3.Kernels.winogradInput(input: $0, geometry: $1, inputBlock: $2, groupStart: $3, groupTiles: $4, tileStart: $5, tileEnd: $6, into: $7) },
            weights: { VGGKernelsV3.Kernels.winogradPairWeights(weights: $0, dtype: $1, geometry: $2, block: $3, first: $4, count: $5, into: $6) },
            products: { VGGKernelsV3.Kernels.winogradPairProducts(v: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, groupStart: $7, groupTiles: $8, tileStart: $9, tileEnd: $10, transformedWeights: $11, weightsReady: $12, products: $13, bf16Inputs: $14, bf16Pairs: $15) }))
    static let baseline = KernelTable(path: .baseline, blockStep: VGGKernelsBase.pairBlocks ? 2 : 1,
        rows: { VGGKernelsBase.Kernels.convolutionRows(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, rowStart: $7, rowEnd: $8) },
        pixels: { VGGKernelsBase.Kernels.convolutionPixels(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, block: $7, pixelStart: $8, pixelEnd: $9) },
        gather: { VGGKernelsBase.Kernels.convolutionGather(input: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, offsets: $6, pixelInput: $7, pixelOutput: $8, pixels: $9, outPlane: $10, block: $11, tapStart: $12, tapEnd: $13, grouped: $14, tapList: $15, last: $16) },
        sparsePixel: { VGGKernelsBase.Kernels.convolutionSparsePixel(values: $0, taps: $1, count: $2, weights: $3, dtype: $4, bias: $5, output: $6, geometry: $7, outPlane: $8, at: $9, block: $10) },
        groupedPixel: { VGGKernelsBase.Kernels.convolutionGroupedPixel(values: $0, taps: $1, count: $2, weights: $3, bias: $4, output: $5, geometry: $6, outPlane: $7, at: $8, firstBlock: $9, blocks: $10, sums: $11) },
        pool: { VGGKernelsBase.Kernels.poolRow(input: $0, output: $1, geometry: $2, block: $3, row: $4) },
        winograd: WinogradKernels(
            input: { VGGKernelsBase.Kernels.winogradInput(input: $0, geometry: $1, inputBlock: $2, groupStart: $3, groupTiles: $4, tileStart: $5, tileEnd: $6, into: $7) },
            weights: { VGGKernelsBase.Kernels.winogradPairWeights(weights: $0, dtype: $1, geometry: $2, block: $3, first: $4, count: $5, into: $6) },
            products: { VGGKernelsBase.Kernels.winogradPairProducts(v: $0, weights: $1, dtype: $2, bias: $3, output: $4, geometry: $5, block: $6, groupStart: $7, groupTiles: $8, tileStart: $9, tileEnd: $10, transformedWeights: $11, weightsReady: $12, products: $13, bf16Inputs: $14, bf16Pairs: $15) }))

    /// The ISA levels this CPU runs, best first.
    static let supported: [KernelTable] = {
        if vggsupport_cpu_is_x86_64_v4() != 0 { return [v4, v3, baseline] }
        if vggsupport_cpu_is_x86_64_v3() != 0 { return [v3, baseline] }
        return [baseline]
    }()

    /// The best table this CPU runs.
    static var best: KernelTable { supported[0] }

    /// The table for an ISA level (1 baseline, 2 x86-64-v3, 3 x86-64-v4; 0 the best), or
    /// nil when this CPU cannot run it.
    static func table(level: Int) -> KernelTable? {
        switch level {
        case 0: return best
        case 1: return baseline
        case 2: return supported.contains { $0.path == .x86_64_v3 } ? v3 : nil
        case 3: return supported.contains { $0.path == .x86_64_v4 } ? v4 : nil
        default: return nil
        }
    }

    /// True when the environment asks for the reference kernels (VGG_FORCE_REFERENCE=1).
    static let referenceForcedByEnvironment: Bool = {
        guard let v = getenv("VGG_FORCE_REFERENCE") else { return false }
        let s = String(cString: v)
        return !s.isEmpty && s != "0"
    }()
}
