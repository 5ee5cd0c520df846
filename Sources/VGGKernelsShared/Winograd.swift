// Winograd F(m×m, 3×3) for 3×3 stride-1 pad-1 convolutions on blocked activations, m = 4
// (WinogradF4x4.swift) or 6 (WinogradF6x6.swift): V = Bᵀ d B, U = G g Gᵀ, Y = Aᵀ (U ⊙ V) A.
// The work is split in three kernels so that nothing is transformed twice:
//   - winogradInput: V[ξ][input block][tile][16] of a group of tiles, once per layer group;
//   - winogradPairWeights: U[ξ][c][2][16] of one output-block pair and channel chunk, for the
//     transformed weights a session keeps across runs (otherwise made inside the products);
//   - winogradPairProducts: for each ξ a GEMM over the input channels in the paired-block
//     microkernel (8 tiles × 2 output blocks), then the output transform with bias and ReLU.
// Shared by the per-ISA modules (VGGKernelsBase/V3/V4 hold symlinks to this file and build it
// with their -march); the rules of WeightLoading.swift for generic code apply.
import CVggBF16
import CVggSupport
import VGGFormat


typealias V16 = SIMD16<Float>

@inline(__always)
func loadV(_ p: UnsafeRawPointer, _ floatOffset: Int) -> V16 {
    vload(p, floatOffset &* 4)
}

@inline(__always)
func storeV(_ p: UnsafeMutableRawPointer, _ floatOffset: Int, _ v: V16) {
    (p + floatOffset &* 4).assumingMemoryBound(to: V16.self).pointee = v
}

extension Kernels {
    /// Calls `transform(base, t, at)` for each input channel c in first..<first + count of output
    /// blocks `block` (k = 0) and `block + 1` (k = 1; `block` again when it is the last): the
    /// channel's 3×3 kernel is the 9 weight vectors from index t of `base`, and its transformed
    /// points go to U[ξ][c − first][k][16] at float offset at + ξ · xiStride. The kernel 8 channels
    /// ahead is prefetched (its 9 vectors: 576 bytes in f32).
    @inline(__always)
    static func forEachPairKernel<W: WeightLoad>(_: W.Type, _ weights: UnsafeRawPointer, _ C: Int, _ outBlocks: Int,
                                                 _ block: Int, _ first: Int, _ count: Int,
                                                 _ transform: (UnsafeRawPointer, Int, Int) -> Void) {
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let second = block &+ 1 < outBlocks ? block &+ 1 : block
        for k in 0..<2 {
            let base = weights + (k == 0 ? block : second) &* C &* 9 &* vectorBytes
            let channelBytes = 9 &* vectorBytes
            for c in 0..<count {
                let t = (first &+ c) &* 9
                let ahead = base + (t &+ 72) &* vectorBytes
                var line = 0
                while line < channelBytes { vggsupport_prefetch(ahead + line); line &+= 64 }
                transform(base, t, (c &* 2 &+ k) &* 16)
            }
        }
    }

    /// U[ξ][c − first][k][16] (ξ geometry.weightStride floats apart) of output blocks `block`
    /// and `block + 1`, input channels first ..< first + count: what winogradPairProducts makes
    /// per chunk, for a caller that keeps it (the same code, so the same values).
    public static func winogradPairWeights(weights: UnsafeRawPointer, dtype: UInt32, geometry g: WinogradGeometry,
                                           block: Int, first: Int, count: Int, into u: UnsafeMutablePointer<Float>) {
        @inline(__always) func transform<W: WeightLoad>(_: W.Type) {
            if g.tileSize == 6 {
                transformPairF6x6(W.self, weights, g.inChannels, g.outBlocks, block, first, count, u, g.weightStride)
            } else {
                transformPairF4x4(W.self, weights, g.inChannels, g.outBlocks, block, first, count, u, g.weightStride)
            }
        }
        switch dtype {
        case 2: transform(F16Weights.self)
        case 3: transform(BF16Weights.self)
        default: transform(F32Weights.self)
        }
    }

    /// V[ξ][inputBlock][t][16] for the tiles groupStart + t, t in tileStart..<tileEnd (row-major
    /// tile order, image after image): Bᵀ d B of each tile's 6×6 input patch. `v` has room for
    /// `groupTiles` tiles.
    public static func winogradInput(input: UnsafePointer<Float>, geometry g: WinogradGeometry, inputBlock: Int,
                                     groupStart: Int, groupTiles: Int, tileStart: Int, tileEnd: Int,
                                     into v: UnsafeMutablePointer<Float>) {
        if g.tileSize == 6 {
            winogradInputF6x6(input: input, geometry: g, inputBlock: inputBlock, groupStart: groupStart, groupTiles: groupTiles,
                              tileStart: tileStart, tileEnd: tileEnd, into: v)
        } else {
            winogradInputF4x4(input: input, geometry: g, inputBlock: inputBlock, groupStart: groupStart, groupTiles: groupTiles,
                              tileStart: tileStart, tileEnd: tileEnd, into: v)
        }
    }

    /// Tiles groupStart + t, t in tileStart..<tileEnd, of
    /// output blocks `block` and `block + 1`: per chunk of input channels, the chunk's
    /// transformed weights U (into `u`, geometry.pairWeightFloats floats) and
    /// M[ξ] += Σ_c U[ξ][c] V[ξ][c] for the 36 points (into `m`,
    /// WinogradGeometry.productFloats(tiles: tileEnd − tileStart) floats); then Y = Aᵀ M A with bias and ReLU into the output buffer. `weightsReady`: `u`
    /// already holds this pair's U, chunk after chunk (pairWeightFloats apart; one chunk when it
    /// covers every input channel); otherwise `u` is room for one chunk, made here.
    /// With `bf16Inputs` (AVX512-BF16 CPUs only, input channels a multiple of 16) the products
    /// are bf16 dot products instead: `bf16Inputs` is V converted to bf16 and `bf16Pairs` room
    /// for 36 · packedStride packed words per chunk (when `weightsReady`, the pair's packed form,
    /// chunk after chunk). With `amxTiles` (vggamx_available() only, input channels and the chunk
    /// a multiple of 32) `bf16Inputs` is in the tile layout of vggamx_interleave_inputs and the
    /// products run on AMX tiles.
    /// Only input channels firstChannel ..< endChannel (firstChannel a multiple of the chunk):
    /// the output transform follows once endChannel reaches the last channel, so a caller can
    /// run several pairs chunk by chunk (each with its own `m`) while a chunk's V is in cache.
    public static func winogradPairProducts(v: UnsafePointer<Float>, weights: UnsafeRawPointer, dtype: UInt32,
                                            bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                            geometry g: WinogradGeometry, block: Int, groupStart: Int, groupTiles: Int,
                                            tileStart: Int, tileEnd: Int, transformedWeights u: UnsafeMutablePointer<Float>,
                                            weightsReady: Bool, products m: UnsafeMutablePointer<Float>,
                                            bf16Inputs: UnsafePointer<UInt16>?, bf16Pairs: UnsafeMutablePointer<UInt32>?,
                                            amxTiles: Bool, firstChannel: Int, endChannel: Int) {
        let C = min(g.inChannels, endChannel)
        let count = tileEnd &- tileStart
        let vStride = g.inputStride(tiles: groupTiles)
        let mStride = WinogradGeometry.productStride(tiles: count)
        let mr = UnsafeMutableRawPointer(m)
        var first = firstChannel
        while first < C {
            let chunk = min(g.channelChunk, C &- first)
            let uChunk = weightsReady ? u + first / g.channelChunk &* g.pairWeightFloats : u
            if !weightsReady {
                winogradPairWeights(weights: weights, dtype: dtype, geometry: g, block: block, first: first, count: chunk, into: u)
                if bf16Inputs != nil, let pairs = bf16Pairs {
                    vggbf16_pack_pairs(u, g.weightStride, pairs, g.packedStride, chunk, g.points)
                }
            }
            if let inputs = bf16Inputs, let pairs = bf16Pairs {
                let pairsChunk = weightsReady ? pairs + first / g.channelChunk &* g.points &* g.packedStride : pairs
                if amxTiles {
                    // Ready weights: all remaining chunks in one pass, the sums staying in the tiles.
                    let end = weightsReady ? C : first &+ chunk
                    vggamx_winograd_products(inputs + tileStart &* 32, vStride, groupTiles &* 32, first, (end &- first) / 2,
                                             pairsChunk, g.packedStride, g.channelChunk / 2, g.points &* g.packedStride,
                                             count, m, mStride, first == 0 ? 0 : 1, g.points)
                    first = end
                    continue
                }
                vggbf16_winograd_products(inputs + tileStart &* 16, vStride, groupTiles &* 16, first, chunk / 2,
                                          pairsChunk, g.packedStride, count, m, mStride, first == 0 ? 0 : 1, g.points)
                first &+= chunk
                continue
            }
            // The next chunk's raw weights (this pair's, or the next pair's first), a slice per
            // point, to L2 while the products run: fetched in the transform itself, from DRAM
            // (weights are read once per run), they made up most of its cost. Only for tasks of
            // ≤ 64 tiles (conv4/conv5 at 224), where the transforms are a large share: A/B at 224,
            // 2 threads, conv4_x and conv5_x −0.15…0.3 ms each; with larger tasks (conv3) it did
            // not help and sometimes hurt (the prefetched lines pushed out V).
            let ahead = WeightsAhead(weights: weights, dtype: dtype, geometry: g, block: block, first: first &+ chunk,
                                     weightsKept: weightsReady || count > 64)
            // Kept weights of ≥ 256 input channels come from DRAM: the next point's (the next
            // chunk's first after the last point) fetched to L2 a slice per micro-tile.
            let keptAhead = weightsReady && g.inChannels >= 256
            let microTiles = (count &+ 7) &>> 3, pointBytes = g.weightStride &* 4
            for xi in 0..<g.points {
                ahead.fetch(slice: xi, of: g.points)
                let ux = UnsafeRawPointer(uChunk + xi &* g.weightStride)
                let next = WeightsAhead(first: ux + pointBytes, second: ux + (pointBytes &+ pointBytes &>> 1),
                                        lines: keptAhead ? pointBytes &>> 7 : 0, step: 64)
                let vx = v + xi &* vStride + (first &>> 4) &* groupTiles &* 16
                var j0 = tileStart
                while j0 < tileEnd {
                    next.fetch(slice: (j0 &- tileStart) &>> 3, of: microTiles)
                    let n = min(8, tileEnd &- j0)
                    if n <= 2 {
                        // A ragged end of one or two tiles (49 tiles = 6 × 8 + 1 at 28×28): one
                        // accumulator chain per tile and block instead of a full tile of 8, same sums.
                        for t in j0..<tileEnd {
                            singleTileProducts(vx + t &* 16, ux, chunk, groupTiles,
                                               mr + (xi &* mStride &+ (t &- tileStart) &* 32) &* 4, first == 0)
                        }
                        break
                    }
                    let offsets = Offsets8(pixels: n, step: 16)
                    let at = mr + (xi &* mStride &+ (j0 &- tileStart) &* 32) &* 4
                    var tile = first == 0 ? PairTile(.zero, .zero) : PairTile(loading: at, second: at + 64, pixels: n, pixelBytes: 128)
                    var c = 0
                    var p = vx + j0 &* 16
                    var w = ux
                    while c < chunk {
                        let lanes = min(16, chunk &- c)
                        for lane in 0..<lanes {
                            tile.step(p + lane, offsets, vload(w, 0), vload(w, 64))
                            w += 128
                        }
                        c &+= 16
                        p += groupTiles &* 16
                    }
                    tile.store(first: at, second: at + 64, pixels: n, pixelBytes: 128)
                    j0 &+= 8
                }
            }
            first &+= chunk
        }
        if C < g.inChannels { return }  // more channels to come: M stays partial

        if g.tileSize == 6 {
            winogradOutputF6x6(bias: bias, output: output, geometry: g, block: block, groupStart: groupStart, tileStart: tileStart,
                            tileEnd: tileEnd, products: m)
            return
        }
        let rowFloats = g.pool ? (g.pooledWidth &+ 2 &* g.pooledBorder) &* 16 : (g.outWidth &+ 2 &* g.outBorder) &* 16
        let outPlane = (g.pool ? g.pooledHeight &+ 2 &* g.pooledBorder : g.outHeight &+ 2 &* g.outBorder) &* rowFloats
        let tilesW = g.tilesW, imageTiles = g.imageTiles
        let blocks = block &+ 1 < g.outBlocks ? 2 : 1
        for k in 0..<blocks {
            let ob = block &+ k
            let biasVector = bias.map { vload(UnsafeRawPointer($0), ob &* 64) } ?? .zero
            let blockPlane = UnsafeMutableRawPointer(output + ob &* outPlane)
            for t in tileStart..<tileEnd {
                let base = (t &- tileStart) &* 32 &+ k &* 16
                // M A: each row i of M (ξ = 6i … 6i + 5) to 4 column values.
                let s0 = outputPointsF4x4(mr, base, mStride)
                let s1 = outputPointsF4x4(mr, base &+ 6 &* mStride, mStride)
                let s2 = outputPointsF4x4(mr, base &+ 12 &* mStride, mStride)
                let s3 = outputPointsF4x4(mr, base &+ 18 &* mStride, mStride)
                let s4 = outputPointsF4x4(mr, base &+ 24 &* mStride, mStride)
                let s5 = outputPointsF4x4(mr, base &+ 30 &* mStride, mStride)
                // Aᵀ (M A): column q's 6 values to output rows 0…3.
                let c0 = outputTransformF4x4(s0.0, s1.0, s2.0, s3.0, s4.0, s5.0)
                let c1 = outputTransformF4x4(s0.1, s1.1, s2.1, s3.1, s4.1, s5.1)
                let c2 = outputTransformF4x4(s0.2, s1.2, s2.2, s3.2, s4.2, s5.2)
                let c3 = outputTransformF4x4(s0.3, s1.3, s2.3, s3.3, s4.3, s5.3)
                let image = (groupStart &+ t) / imageTiles, tile = groupStart &+ t &- image &* imageTiles
                let plane = blockPlane + image &* g.outImageFloats &* 4
                let tileRow = tile / tilesW, tileColumn = tile &- tileRow &* tilesW
                let oy = 4 &* tileRow, ox = 4 &* tileColumn
                let rowsLeft = g.outHeight &- oy, columns = min(4, g.outWidth &- ox)
                let r = g.relu
                if g.pool {
                    poolTile(plane, g, rowFloats, oy, ox, rowsLeft, columns, biasVector, r, c0, c1, c2, c3)
                    continue
                }
                var at = (oy &+ g.outBorder) &* rowFloats &+ (ox &+ g.outBorder) &* 16
                storeRow(plane, at, columns, biasVector, r, c0.0, c1.0, c2.0, c3.0)
                if rowsLeft > 1 { at &+= rowFloats; storeRow(plane, at, columns, biasVector, r, c0.1, c1.1, c2.1, c3.1) }
                if rowsLeft > 2 { at &+= rowFloats; storeRow(plane, at, columns, biasVector, r, c0.2, c1.2, c2.2, c3.2) }
                if rowsLeft > 3 { at &+= rowFloats; storeRow(plane, at, columns, biasVector, r, c0.3, c1.3, c2.3, c3.3) }
            }
        }
    }

    /// The 2×2 max pooling of one finished 4×4 output tile (columns c0…c3, rows in each):
    /// pooled rows oy/2, oy/2 + 1 and columns ox/2, ox/2 + 1 where they exist, each the maximum
    /// over its window clipped to the image (a missing row or column repeats its neighbour).
    @inline(__always)
    static func poolTile(_ plane: UnsafeMutableRawPointer, _ g: WinogradGeometry, _ rowFloats: Int, _ oy: Int, _ ox: Int,
                         _ rowsLeft: Int, _ columns: Int, _ bias: V16, _ applyReLU: Bool,
                         _ c0: (V16, V16, V16, V16), _ c1: (V16, V16, V16, V16), _ c2: (V16, V16, V16, V16),
                         _ c3: (V16, V16, V16, V16)) {
        @inline(__always) func finish(_ y: V16) -> V16 { applyReLU ? relu(y + bias) : y + bias }
        @inline(__always) func larger(_ a: V16, _ b: V16) -> V16 { vggsupport_larger16(a, b) }
        // Rows 0…3 of the 4 columns, max over each column pair.
        let left0 = larger(c0.0, columns > 1 ? c1.0 : c0.0), left1 = larger(c0.1, columns > 1 ? c1.1 : c0.1)
        let left2 = larger(c0.2, columns > 1 ? c1.2 : c0.2), left3 = larger(c0.3, columns > 1 ? c1.3 : c0.3)
        let right0 = larger(c2.0, columns > 3 ? c3.0 : c2.0), right1 = larger(c2.1, columns > 3 ? c3.1 : c2.1)
        let right2 = larger(c2.2, columns > 3 ? c3.2 : c2.2), right3 = larger(c2.3, columns > 3 ? c3.3 : c2.3)
        // Bias and ReLU commute with the maximum (same bias per channel, ReLU monotonic).
        let topLeft = finish(larger(left0, rowsLeft > 1 ? left1 : left0))
        let topRight = finish(larger(right0, rowsLeft > 1 ? right1 : right0))
        let bottomLeft = finish(larger(left2, rowsLeft > 3 ? left3 : left2))
        let bottomRight = finish(larger(right2, rowsLeft > 3 ? right3 : right2))
        let py = oy &>> 1, px = ox &>> 1
        let hasRight = columns > 2 && px &+ 1 < g.pooledWidth, hasBottom = rowsLeft > 2 && py &+ 1 < g.pooledHeight
        guard py < g.pooledHeight && px < g.pooledWidth else { return }
        let at = (py &+ g.pooledBorder) &* rowFloats &+ (px &+ g.pooledBorder) &* 16
        storeV(plane, at, topLeft)
        if hasRight { storeV(plane, at &+ 16, topRight) }
        if hasBottom {
            storeV(plane, at &+ rowFloats, bottomLeft)
            if hasRight { storeV(plane, at &+ rowFloats &+ 16, bottomRight) }
        }
    }

    /// M[ξ] of one tile and both blocks at `at` (+)= Σ_c U[ξ][c] V[ξ][c] over a chunk: the
    /// products of PairTile for a single tile, in the same order.
    @inline(__always)
    static func singleTileProducts(_ p0: UnsafePointer<Float>, _ ux: UnsafeRawPointer, _ chunk: Int, _ groupTiles: Int,
                                   _ at: UnsafeMutableRawPointer, _ fresh: Bool) {
        var a = fresh ? V16.zero : vload(UnsafeRawPointer(at), 0)
        var b = fresh ? V16.zero : vload(UnsafeRawPointer(at), 64)
        var c = 0
        var p = p0
        var w = ux
        while c < chunk {
            let lanes = min(16, chunk &- c)
            for lane in 0..<lanes {
                let x = V16(repeating: p[lane])
                a = multiplyAdd(a, x, vload(w, 0))
                b = multiplyAdd(b, x, vload(w, 64))
                w += 128
            }
            c &+= 16
            p += groupTiles &* 16
        }
        storeV(at, 0, a)
        storeV(at, 16, b)
    }

    /// Stores the first `columns` of one output row's 4 values, with bias and optional ReLU.
    @inline(__always)
    static func storeRow(_ plane: UnsafeMutableRawPointer, _ at: Int, _ columns: Int, _ bias: V16, _ applyReLU: Bool,
                         _ y0: V16, _ y1: V16, _ y2: V16, _ y3: V16) {
        @inline(__always) func finish(_ y: V16) -> V16 { applyReLU ? relu(y + bias) : y + bias }
        storeV(plane, at, finish(y0))
        if columns > 1 { storeV(plane, at &+ 16, finish(y1)) }
        if columns > 2 { storeV(plane, at &+ 32, finish(y2)) }
        if columns > 3 { storeV(plane, at &+ 48, finish(y3)) }
    }
}
