// Winograd weights transformed once per session and kept across runs. Transforming them is
// ~10% of a 3×3 layer at 224×224 in f32 (more with several tile splits, which each transform
// every pair again) and has to be redone every run otherwise; kept, the products read them from
// memory, which those compute-bound layers leave idle (VGG16, 2 threads: conv2_2, conv3_2 and
// conv3_3 0.1–0.5 ms faster each at 224 and 384), and the tile rule can then prefer F(6×6)
// where it saves less work (conv3_x at 224, another ~0.9 ms). For bf16 dot products they are
// kept in the packed pair layout those read: transforming and packing were 12% of a bf16
// file's run (VGG16 224, 1 thread), against 52% for the products themselves. A budget bounds
// what a session keeps: the first layers a run meets (the smaller ones): for VGG16 in f32
// conv1_2 … conv3_3 (F(6×6): 50 MB, at 224 and 384), in bf16 conv1_2 … conv4_3 (62 MB).
import CVggBF16
import VGGFormat

/// A kept transform: which weights, transformed for which tile, chunking and kernels (the ISA
/// levels round differently, so each keeps its own), in f32 or packed for bf16 dot products.
struct KeptWeightsKey: Hashable {
    let weights: Int
    let tileSize: Int
    let channelChunk: Int
    let path: KernelPath
    let packed: Bool
}

extension Session {
    /// 4-byte words (floats, or packed bf16 pairs) of transformed weights one session keeps at
    /// most (64 MiB): with VGG16's f32 weights at 224×224 peak RSS stays under 650 MB.
    static let keptWeightBudgetWords = (64 << 20) / 4

    /// Chunks of channelChunk input channels of a layer's weights.
    static func weightChunks(_ g: WinogradGeometry) -> Int {
        (g.inChannels + g.channelChunk - 1) / g.channelChunk
    }

    /// Words of a layer's kept weights, pair after pair, each chunk of channelChunk input
    /// channels after the other: f32 U (geometry.pairWeightFloats per chunk), or with `packed`
    /// the bf16 pairs of U (points × geometry.packedStride per chunk).
    static func keptWeightWords(_ g: WinogradGeometry, pairs: Int, packed: Bool) -> Int {
        pairs * weightChunks(g) * keptChunkWords(g, packed: packed)
    }

    /// Words of one chunk of one pair's kept weights.
    static func keptChunkWords(_ g: WinogradGeometry, packed: Bool) -> Int {
        packed ? g.points * g.packedStride : g.pairWeightFloats
    }

    func keptWeightsKey(_ weight: Tensor, _ g: WinogradGeometry, packed: Bool) -> KeptWeightsKey {
        KeptWeightsKey(weights: Int(bitPattern: weight.data), tileSize: g.tileSize, channelChunk: g.channelChunk,
                       path: kernels.path, packed: packed)
    }

    /// The layer's transformed weights (layout of keptWeightWords; UInt32 pairs when `packed`),
    /// made on first use while the budget allows, on all workers; nil when they do not fit (the
    /// products then transform them chunk by chunk in every run). Made by the same kernels the
    /// products call otherwise, so the results are the same bit for bit.
    func keptWinogradWeights(_ w: WinogradKernels, weight: Tensor, geometry g: WinogradGeometry, pairs: Int,
                             packed: Bool) throws -> UnsafeMutableRawPointer? {
        let key = keptWeightsKey(weight, g, packed: packed)
        if let kept = keptWeights[key] { return UnsafeMutableRawPointer(kept.pointer) }
        let words = Session.keptWeightWords(g, pairs: pairs, packed: packed)
        guard keptWeightWordsUsed + words <= Session.keptWeightBudgetWords else { return nil }
        let buffer = FloatBuffer()
        let kept = UnsafeMutableRawPointer(try buffer.reserve(words))
        let chunks = Session.weightChunks(g), chunkWords = Session.keptChunkWords(g, packed: packed)
        let data = weight.data, dtype = weight.dtype.rawValue, transform = w.weights
        // Packing goes through f32 U in a scratch per worker.
        let scratch = FloatBuffer()
        let u = packed ? try scratch.reserve(pool.threadCount * g.pairWeightFloats) : nil
        pool.parallelFor(pairs * chunks) { task, worker in
            let first = task % chunks * g.channelChunk, count = min(g.channelChunk, g.inChannels - first)
            let dest = kept + task * chunkWords * 4
            guard let u else {
                transform(data, dtype, g, task / chunks * 2, first, count, dest.assumingMemoryBound(to: Float.self))
                return
            }
            let own = u + worker * g.pairWeightFloats
            transform(data, dtype, g, task / chunks * 2, first, count, own)
            vggbf16_pack_pairs(own, g.weightStride, dest.assumingMemoryBound(to: UInt32.self), g.packedStride, count,
                               g.points)
        }
        keptWeights[key] = buffer
        keptWeightWordsUsed += words
        return kept
    }
}

extension Session {
    /// The tile of every Winograd layer of a run at this size (0 for the other layers): forced
    /// by winogradTileSize, else Session.cheaperWinogradTile told which layers the session
    /// keeps the weights of when it starts empty (layers in order, each while the budget
    /// allows, as keptWinogradWeights does). Derived from the size alone, never from what the
    /// session keeps already, so a run's arithmetic does not depend on the sizes run before it.
    func winogradTiles(_ plan: ForwardPlan) -> [Int] {
        var tiles = [Int](repeating: 0, count: plan.last + 1)
        let budget = Session.keptWeightBudgetWords
        var used = 0
        for site in winogradSites(plan) {
            func keptWords(_ tile: Int) -> Int {
                var g = site.geometry(tileSize: tile)
                let split = WinogradPlan(&g, threads: 1, bf16: site.bf16)
                return Session.keptWeightWords(g, pairs: split.pairs, packed: site.bf16)
            }
            let l = site.layer
            let tile = winogradTileSize != 0 ? winogradTileSize
                : Session.cheaperWinogradTile(inChannels: l.inChannels, outChannels: l.outChannels,
                                              height: site.outShape.height, width: site.outShape.width, bf16: site.bf16,
                                              kept4: used + keptWords(4) <= budget, kept6: used + keptWords(6) <= budget)
            tiles[site.index] = tile
            if used + keptWords(tile) <= budget { used += keptWords(tile) }
        }
        return tiles
    }
}
