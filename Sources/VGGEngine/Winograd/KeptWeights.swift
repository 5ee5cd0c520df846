// Winograd weights transformed once per model and kept across runs. Transforming them is
// ~10% of a 3×3 layer at 224×224 in f32 (more with several tile splits, which each transform
// every pair again) and has to be redone every run otherwise; kept, the products read them from
// memory, which those compute-bound layers leave idle (VGG16, 2 threads: conv2_2, conv3_2 and
// conv3_3 0.1–0.5 ms faster each at 224 and 384), and the tile rule can then prefer F(6×6)
// where it saves less work (conv3_x at 224, another ~0.9 ms). For bf16 dot products they are
// kept in the packed pair layout those read: transforming and packing were 12% of a bf16
// file's run (VGG16 224, 1 thread), against 52% for the products themselves. A budget bounds
// what a model keeps: the first layers a run meets (the smaller ones): for VGG16 in f32
// conv1_2 … conv3_3 (F(6×6): 50 MB, at 224 and 384), in bf16 conv1_2 … conv4_3 (62 MB). They
// depend on the weights, tile, chunking and kernels only, so the model holds them for all its
// sessions (eight sessions on one model each kept their own 50 MB before).
import Glibc
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

/// A model's kept weights, made once by the first session that needs them and freed with the
/// model. Thread-safe: sessions of one model run on different threads.
final class KeptWeightsStore: @unchecked Sendable {
    // A pthread mutex must not move: it lives in manually allocated memory.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var buffers: [KeptWeightsKey: FloatBuffer] = [:]
    private var wordsUsed = 0

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// `body` on the kept buffers and the words they take, holding the lock (other sessions
    /// wanting kept weights wait meanwhile, rather than make the same ones twice).
    func locked<T>(_ body: (inout [KeptWeightsKey: FloatBuffer], inout Int) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&buffers, &wordsUsed)
    }
}

extension Session {
    /// 4-byte words (floats, or packed bf16 pairs) of transformed weights one model keeps at
    /// most: 64 MiB, so that with VGG16's f32 weights at 224×224 peak RSS stays under 650 MB;
    /// 128 MiB when packed (bf16 files map half the bytes): all of VGG16's 3×3 layers but
    /// conv1_1 (118 MB). Not keeping conv5_x made them the slowest layers per product on AMX
    /// tiles (transformed and packed again every run: 1.6–1.8 ms each at 224, 2 threads).
    static func keptWeightBudgetWords(packed: Bool) -> Int { (packed ? 128 << 20 : 64 << 20) / 4 }

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
    /// made on first use by any session of the model while the model's budget allows, on this
    /// session's workers; nil when they do not fit (the products then transform them chunk by
    /// chunk in every run). Made by the same kernels the products call otherwise, so the
    /// results are the same bit for bit.
    func keptWinogradWeights(_ w: WinogradKernels, weight: Tensor, geometry g: WinogradGeometry, pairs: Int,
                             packed: Bool) throws -> UnsafeMutableRawPointer? {
        let key = keptWeightsKey(weight, g, packed: packed)
        let words = Session.keptWeightWords(g, pairs: pairs, packed: packed)
        return try model.keptWeights.locked { buffers, used in
            if let kept = buffers[key] { return UnsafeMutableRawPointer(kept.pointer) }
            guard used + words <= Session.keptWeightBudgetWords(packed: packed) else { return nil }
            let buffer = FloatBuffer()
            let kept = UnsafeMutableRawPointer(try buffer.reserve(words))
            try makeKeptWeights(w, weight: weight, geometry: g, pairs: pairs, packed: packed, into: kept)
            buffers[key] = buffer
            used += words
            return kept
        }
    }

    /// Transforms (and with `packed` packs) every pair's weights into `kept`, a chunk per task.
    private func makeKeptWeights(_ w: WinogradKernels, weight: Tensor, geometry g: WinogradGeometry, pairs: Int,
                                 packed: Bool, into kept: UnsafeMutableRawPointer) throws {
        let chunks = Session.weightChunks(g), chunkWords = Session.keptChunkWords(g, packed: packed)
        let data = weight.data, dtype = weight.dtype.rawValue, transform = w.weights
        // Packing goes through f32 U in a scratch per worker.
        let scratch = FloatBuffer()
        let u = packed ? try scratch.reserve(pool.threadCount * g.pairWeightFloats) : nil
        let pack = kernels.bf16?.packPairs
        if packed && pack == nil { throw VGGError(.internal, "kept weights packed for bf16 products without bf16 kernels") }
        pool.parallelFor(pairs * chunks) { task, worker in
            let first = task % chunks * g.channelChunk, count = min(g.channelChunk, g.inChannels - first)
            let dest = kept + task * chunkWords * 4
            guard let u else {
                transform(data, dtype, g, task / chunks * 2, first, count, dest.assumingMemoryBound(to: Float.self))
                return
            }
            let own = u + worker * g.pairWeightFloats
            transform(data, dtype, g, task / chunks * 2, first, count, own)
            pack?(own, g.weightStride, dest.assumingMemoryBound(to: UInt32.self), g.packedStride, count, g.points)
        }
    }
}

extension Session {
    /// The tile of every Winograd layer of a run at this size (0 for the other layers): forced
    /// by winogradTileSize, else Session.cheaperWinogradTile told which layers a model that
    /// keeps nothing yet would keep the weights of (layers in order, each while the budget
    /// allows, as keptWinogradWeights does). Derived from the size alone, never from what the
    /// model keeps already, so a run's arithmetic does not depend on the sizes run before it.
    func winogradTiles(_ plan: ForwardPlan) -> [Int] {
        var tiles = [Int](repeating: 0, count: plan.last + 1)
        var used = 0
        for site in winogradSites(plan) {
            let budget = Session.keptWeightBudgetWords(packed: site.bf16)
            func keptWords(_ tile: Int) -> Int {
                var g = site.geometry(tileSize: tile)
                let split = WinogradPlan(&g, threads: 1, bf16: site.bf16, amx: site.amx)
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
