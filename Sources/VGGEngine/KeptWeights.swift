// Winograd weights transformed once per session and kept across runs. Transforming them is
// ~10% of a 3×3 layer at 224×224 (more with several tile splits, which each transform every
// pair again) and has to be redone every run otherwise; kept, the products read them from
// memory, which those compute-bound layers leave idle (VGG16, 2 threads: conv2_2, conv3_2 and
// conv3_3 0.1–0.5 ms faster each at 224 and 384), and the tile rule can then prefer F(6×6)
// where it saves less work (conv3_x at 224, another ~0.9 ms). A budget bounds what a session
// keeps: the first layers a run meets (the smaller ones), conv1_2 … conv3_3 for VGG16 at 224×224
// and at 384×384 (F(6×6): 50 MB). Only for f32 products: the bf16 products keep their packed
// weights per worker (WinogradPlan).
import VGGFormat

/// A kept transform: which weights, transformed for which tile, chunking and kernels (the ISA
/// levels round differently, so each keeps its own).
struct KeptWeightsKey: Hashable {
    let weights: Int
    let tileSize: Int
    let channelChunk: Int
    let path: KernelPath
}

extension Session {
    /// Floats of transformed weights one session keeps at most (48 MiB).
    static let keptWeightBudgetFloats = (48 << 20) / MemoryLayout<Float>.size

    /// Chunks of channelChunk input channels of a layer's weights.
    static func weightChunks(_ g: WinogradGeometry) -> Int {
        (g.inChannels + g.channelChunk - 1) / g.channelChunk
    }

    /// Floats of a layer's kept weights: pair after pair, each chunk of channelChunk input
    /// channels after the other (geometry.pairWeightFloats each).
    static func keptWeightFloats(_ g: WinogradGeometry, pairs: Int) -> Int {
        pairs * weightChunks(g) * g.pairWeightFloats
    }

    func keptWeightsKey(_ weight: Tensor, _ g: WinogradGeometry) -> KeptWeightsKey {
        KeptWeightsKey(weights: Int(bitPattern: weight.data), tileSize: g.tileSize, channelChunk: g.channelChunk,
                       path: kernels.path)
    }

    /// The layer's transformed weights (layout of keptWeightFloats), made on first use while the
    /// budget allows, on all workers; nil when they do not fit (the products then transform
    /// them chunk by chunk in every run).
    func keptWinogradWeights(_ w: WinogradKernels, weight: Tensor, geometry g: WinogradGeometry,
                             pairs: Int) throws -> UnsafeMutablePointer<Float>? {
        let key = keptWeightsKey(weight, g)
        if let kept = keptWeights[key] { return kept.pointer }
        let floats = Session.keptWeightFloats(g, pairs: pairs)
        guard keptWeightFloatsUsed + floats <= Session.keptWeightBudgetFloats else { return nil }
        let buffer = FloatBuffer()
        let u = try buffer.reserve(floats)
        let chunks = Session.weightChunks(g)
        let data = weight.data, dtype = weight.dtype.rawValue, transform = w.weights
        pool.parallelFor(pairs * chunks) { task in
            let first = task % chunks * g.channelChunk
            transform(data, dtype, g, task / chunks * 2, first, min(g.channelChunk, g.inChannels - first),
                      u + task * g.pairWeightFloats)
        }
        keptWeights[key] = buffer
        keptWeightFloatsUsed += floats
        return u
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
        let budget = Session.keptWeightBudgetFloats
        var used = 0
        for site in winogradSites(plan) {
            func keptFloats(_ tile: Int) -> Int {
                var g = site.geometry(tileSize: tile)
                let split = WinogradPlan(&g, threads: 1, bf16: site.bf16)
                return Session.keptWeightFloats(g, pairs: split.pairs)
            }
            let l = site.layer
            let tile = winogradTileSize != 0 ? winogradTileSize
                : Session.cheaperWinogradTile(inChannels: l.inChannels, outChannels: l.outChannels,
                                              height: site.outShape.height, width: site.outShape.width, bf16: site.bf16,
                                              kept4: used + keptFloats(4) <= budget, kept6: used + keptFloats(6) <= budget)
            tiles[site.index] = tile
            if !site.bf16 && used + keptFloats(tile) <= budget { used += keptFloats(tile) }
        }
        return tiles
    }
}
