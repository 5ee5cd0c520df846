// This ISA module's kernels as the table the engine picks from (VGGKernelABI.KernelFunctions):
// the one place that names them, compiled into each of VGGKernelsBase/V3/V4.
import VGGFormat
import VGGKernelABI

/// The namespace of this module's kernels (extended by every file of the folder).
public enum Kernels {}

/// Every kernel of this module.
public let kernelFunctions = KernelFunctions(
    blockStep: pairBlocks ? 2 : 1,
    rows: Kernels.convolutionRows, pixels: Kernels.convolutionPixels, gather: Kernels.convolutionGather,
    sparsePixel: Kernels.convolutionSparsePixel, groupedPixel: Kernels.convolutionGroupedPixel, pool: Kernels.poolRow,
    winogradInput: Kernels.winogradInput, winogradInputTiles: Kernels.winogradInputF4x4Tiles,
    winogradWeights: Kernels.winogradPairWeights,
    winogradProducts: Kernels.winogradPairProducts)
