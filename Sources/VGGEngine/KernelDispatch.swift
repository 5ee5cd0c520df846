// The kernel dispatch table, filled once from the CPU's features: x86-64-v4, x86-64-v3 or
// baseline. `VGG_FORCE_REFERENCE=1` in the environment, or the session option, selects the
// naive reference path instead.
import CVggBF16
import CVggSupport
import Glibc
import VGGFormat
import VGGKernelABI
import VGGKernelsBase
import VGGKernelsV3
import VGGKernelsV4

public enum KernelPath: String, Sendable {
    case x86_64_v4 = "x86-64-v4"
    case x86_64_v3 = "x86-64-v3"
    case baseline = "x86-64"
    case reference = "reference"
}

/// Winograd F(4×4, 3×3) and F(6×6, 3×3) kernels of one ISA; faster than direct convolution on
/// every level (VGG16 224, 2 threads: v4 171 → 76 ms, v3 338 → 96, baseline 669 → 211).
struct WinogradKernels {
    let input: WinogradInputKernel
    let inputTiles: WinogradInputTilesKernel
    let weights: WinogradWeightsKernel
    let products: WinogradProductsKernel
}

/// The bf16 dot products (CVggBF16, AVX512-BF16) of bf16-weight models: the fc layers' packing
/// and gather, the Winograd inputs' conversion and the kept weights' packing. Offered with the
/// x86-64-v4 kernels on CPUs that have AVX512-BF16 (the C functions must not run elsewhere).
struct BF16Kernels {
    /// Whether bf16 dot products outrun f32 FMAs on this CPU (vggbf16_full_rate): what
    /// BF16Arithmetic.whereFaster asks.
    let fullRate = vggbf16_full_rate() != 0
    let convert = vggbf16_convert
    let packPairs = vggbf16_pack_pairs
    let im2col = vggbf16_im2col
    let packTaps = vggbf16_pack_taps
    let gather = vggbf16_gather
    let gatherOne = vggbf16_gather_one
    let gatherOneSparse = vggbf16_gather_one_sparse
    let interleaveInputs = vggamx_interleave_inputs
    let amxGather = vggamx_gather
    /// Whether this process may use AMX-BF16 tiles (vggamx_available). Asked only when a
    /// bf16-weight layer could run on them: the first ask requests the tile state from Linux
    /// for the whole process, which f32 users never need.
    var amxTiles: Bool { BF16Kernels.amxGranted }
    private static let amxGranted = vggamx_available() != 0
}

/// The kernels of one ISA level, as the engine calls them.
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
    /// nil where bf16 dot products are not offered (bf16 weights are then computed in f32).
    let bf16: BF16Kernels?

    init(path: KernelPath, _ f: KernelFunctions, bf16: BF16Kernels? = nil) {
        self.path = path
        blockStep = f.blockStep
        rows = f.rows
        pixels = f.pixels
        gather = f.gather
        sparsePixel = f.sparsePixel
        groupedPixel = f.groupedPixel
        pool = f.pool
        winograd = WinogradKernels(input: f.winogradInput, inputTiles: f.winogradInputTiles, weights: f.winogradWeights,
                                   products: f.winogradProducts)
        self.bf16 = bf16
    }

    static let v4 = KernelTable(path: .x86_64_v4, VGGKernelsV4.kernelFunctions,
                                bf16: vggbf16_supported() != 0 ? BF16Kernels() : nil)
    static let v3 = KernelTable(path: .x86_64_v3, VGGKernelsV3.kernelFunctions)
    static let baseline = KernelTable(path: .baseline, VGGKernelsBase.kernelFunctions)

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
