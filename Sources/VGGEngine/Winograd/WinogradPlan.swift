// How a Winograd layer is cut into tasks and how much per-worker scratch that takes: shared by
// the forward pass and the workspace size query.
import Glibc
import VGGFormat

struct WinogradPlan {
    let pairs: Int
    /// Every pair's transformed weights kept per worker for the whole layer (≤ 128 input
    /// channels, ≤ 4 pairs); otherwise made per split in 64-channel chunks.
    let cached: Bool
    let cachedPairs: Int
    let microTiles: Int, splits: Int, splitTiles: Int
    let pairsPerRange: Int, ranges: Int
    /// Pairs a task runs side by side, chunk of input channels by chunk, each into its own M (1:
    /// pair after pair): layers of several chunks whose weights are not cached per worker, where
    /// a chunk's transformed inputs fit in L2 (interleaveInputBytes), so that the pairs after
    /// the first read them from there instead of all of V again per pair. Never on AMX tiles:
    /// there the sums stay in the tiles over all channels of kept weights, and each chunk would
    /// store and load M again (VGG16 224, 2 threads: the products took 43% of a run).
    let interleavedPairs: Int
    /// Splits run one after another on all workers (on several threads, layers whose weights
    /// are not cached per worker, and any layer of a single split): each split's inputs are
    /// transformed once into worker 0's buffer and its pairs spread over the workers. With a
    /// split per worker instead, each read its own transformed inputs from DRAM for every pair
    /// (the L3 share a run gets is ~6 MB; a split's inputs up to 8): VGG16 in batches of 8 at
    /// 224, conv3_x 4–7% and conv4_x, conv5_x 2–5% faster; at 384 (4 splits) conv3_1 and
    /// conv4_x 0.4–0.9 ms faster.
    let lockstep: Bool
    /// Per-worker floats: V (f32; none on AMX tiles with F(4×4)), weight slots (U f32 and, with
    /// bf16, its packed pairs), M, V in bf16.
    let inputFloats: Int, slotFloats: Int, weightFloats: Int, productFloats: Int, inputHalfFloats: Int
    /// M of one pair (productFloats holds interleavedPairs of them).
    let pairProductFloats: Int

    var scratchFloats: Int { inputFloats + weightFloats + productFloats + inputHalfFloats }

    /// Tiles of one task when the layer's transformed weights stay cached (or are kept by the
    /// session): one micro-tile, so that a split's transformed inputs and products (F(6×6),
    /// 128 channels: 256 + 64 KiB) stay in L2 between the input transform, the products and the
    /// output transform. Against 64 tiles (1.5 MiB, out to L3 and back), VGG16 conv1_2 and
    /// conv2_x ran 0.2–0.9 ms faster each at 224 and 384 (2 threads), 0.35–1 ms on 1 thread
    /// (Zen 4, 1 MB L2; 16–32 tiles no faster there). Two micro-tiles where L2 has 2 MB or more
    /// (Emerald Rapids Xeon, interleaved A/B, conv1_2 + conv2_x medians: 224 1 thread 24.0 →
    /// 21.9 ms, 384 2 threads 43.4/48.5 → 31.1/34.0 ms). The sums do not depend on the splits.
    /// On AMX tiles 32 (amxSplitTiles).
    static let cachedSplitTiles = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE)) >= 2 << 20 ? 16 : 8
    /// Tiles of such a task on AMX tiles: up to two 16-row tile groups, so that each weight tile
    /// loaded serves both (vggamx_winograd_products' two_groups; micro-tiles are spread evenly,
    /// so some tasks get 24 tiles, two overlapping groups of 16). Alternated builds, bf16 VGG16,
    /// conv1_2 + conv2_x medians: 2 threads 224 4.90 → 4.65 ms, 384 13.23 → 12.30; 1 thread
    /// unchanged (224 8.67/8.29 → 8.81/7.83 in two runs, 384 23.8 → 23.9).
    static let amxSplitTiles = 32
    /// Bytes of one worker's transformed inputs and products otherwise: fewer, larger splits
    /// transform each pair's weights fewer times (~100 operations per channel and block,
    /// against 36 FMAs per tile), within L3: 8 MiB where the CPU reports less than 64 MiB of
    /// L3 (Zen 4: 32 MB, of which a run gets ~6), 16 MiB where it reports more (an Emerald
    /// Rapids Xeon VM, 300 MB: VGG16 at 384, 2 threads, conv3_2 and conv4_2 ~21.5 → ~19 ms
    /// each, batch 8 at 224 10–30% faster, interleaved A/B). The sums do not depend on the splits.
    static let splitBudget = sysconf(Int32(_SC_LEVEL3_CACHE_SIZE)) >= 64 << 20 ? 16 << 20 : 8 << 20
    /// Output-block pairs whose transformed weights a worker keeps (≤ 128 channels: ≤ 576 KiB each).
    static let cachedPairLimit = 4
    /// Most pairs run side by side (interleavedPairs), and the largest chunk of a split's
    /// transformed inputs for which they do. VGG16 224, 2 threads, interleaved A/B (3 runs of
    /// 6–10 rounds, an Emerald Rapids Xeon): conv3_x … conv5_x medians 46.8/47.8/46.1 →
    /// 44.2/43.1/43.3 ms with 4 pairs (2: 44.6); at 384 (chunks of 4 MB) no change.
    static let interleaveLimit = 4
    static let interleaveInputBytes = 2 << 20

    /// Sets g.channelChunk for the layer.
    init(_ g: inout WinogradGeometry, threads: Int, bf16: Bool, amx: Bool) {
        let tiles = g.tiles
        pairs = (g.outBlocks + 1) / 2
        cached = g.inChannels <= 128 && pairs <= WinogradPlan.cachedPairLimit
        if cached { g.channelChunk = (g.inChannels + 15) / 16 * 16 }
        cachedPairs = cached ? pairs : 1
        // Splits in whole 8-tile micro-tiles spread evenly, a multiple of the thread count when
        // there are several; with cached weights many small ones, otherwise as few as the budget
        // allows (in lockstep, one after another on all workers; the weights are transformed
        // once per split and pair). Before lockstep, 3 splits on 2 threads ran conv3_x at 384
        // 1.7× faster than on 1 thread, 4 splits ~1.9×; in lockstep 3 splits (5.8 MB of
        // transformed inputs each) ran conv3_x at 384 no faster than 4 (4.2 MB).
        microTiles = (tiles + 7) / 8
        let tileBytes = 4 * (g.inputFloats(tiles: 1) + g.productFloats(tiles: 1))
        let capTiles = cached ? (amx ? WinogradPlan.amxSplitTiles : WinogradPlan.cachedSplitTiles) : max(8, WinogradPlan.splitBudget / tileBytes)
        var splits = (tiles + capTiles - 1) / capTiles
        if splits > 1 { splits = min(microTiles, (splits + threads - 1) / threads * threads) }
        self.splits = splits
        lockstep = threads > 1 && (!cached || splits == 1)
        splitTiles = (microTiles + splits - 1) / splits * 8  // the largest split
        // Two tasks per worker: in lockstep two pair ranges per worker in every split, otherwise
        // splits and pair ranges together.
        let wantedRanges = lockstep ? min(pairs, 2 * threads) : max(1, min(pairs, (2 * threads + splits - 1) / splits))
        pairsPerRange = (pairs + wantedRanges - 1) / wantedRanges
        ranges = (pairs + pairsPerRange - 1) / pairsPerRange
        let chunkInputBytes = 4 * g.inputFloats(tiles: splitTiles) / max(1, (g.inChannels + g.channelChunk - 1) / g.channelChunk)
        interleavedPairs = amx || cached || g.inChannels <= g.channelChunk || chunkInputBytes > WinogradPlan.interleaveInputBytes
            ? 1 : min(pairsPerRange, WinogradPlan.interleaveLimit)
        // On AMX tiles with F(4×4) the input transform writes the tiles' bf16 rows only: no f32 V.
        let splitInputFloats = g.inputFloats(tiles: splitTiles)
        inputFloats = amx && g.tileSize == 4 ? 0 : splitInputFloats
        slotFloats = g.pairWeightFloats + (bf16 ? g.points * g.packedStride : 0)
        weightFloats = cachedPairs * slotFloats
        pairProductFloats = g.productFloats(tiles: splitTiles)
        productFloats = pairProductFloats * interleavedPairs
        inputHalfFloats = bf16 ? (splitInputFloats + 1) / 2 : 0
    }
}

/// One Winograd layer of a run at some size: what the tile rule, the keep plan and the
/// workspace size need to know of it.
struct WinogradSite {
    let index: Int
    let layer: Layer
    let weight: Tensor
    let inShape: ActivationShape
    let inBorder: Int
    let outShape: ActivationShape
    let outBorder: Int
    /// Products in bf16 (useBF16Winograd), on AMX tiles (useAMX).
    let bf16: Bool, amx: Bool

    /// The layer's geometry with `tileSize`.
    func geometry(tileSize: Int) -> WinogradGeometry {
        Session.winogradGeometry(layer, inShape: inShape, inBorder: inBorder, outShape: outShape, outBorder: outBorder,
                                 tileSize: tileSize)
    }
}

extension Session {
    /// The layers of `plan` that run as Winograd, in order.
    func winogradSites(_ plan: ForwardPlan) -> [WinogradSite] {
        var sites = [WinogradSite]()
        var inShape = plan.input, inBorder = plan.inputBorder
        for i in 0...plan.last {
            let l = model.layers[i], outShape = plan.shapes[i]
            if let weight = l.weight, useWinograd(l, inBorder: inBorder, outWidth: outShape.width) {
                sites.append(WinogradSite(index: i, layer: l, weight: weight, inShape: inShape, inBorder: inBorder,
                                          outShape: outShape, outBorder: plan.borders[i],
                                          bf16: useBF16Winograd(l, weight: weight), amx: useAMX(l, weight: weight)))
            }
            inShape = outShape
            inBorder = plan.borders[i]
        }
        return sites
    }
}
