// Winograd F(6×6, 3×3): 6×6 output tiles from 8×8 input patches, 64 points ξ (0, ±1, ±2, ±½, ∞):
// 64 multiplications per 36 outputs instead of F(4×4)'s 36 per 16, 21% fewer. Used where the
// output is large (conv1–conv3 at 224): the transformed weights are 1.8× F(4×4)'s, which only pays
// where they are made once for many tiles. Float32 error per layer ~2× F(4×4)'s (numbers in
// docs/EXPERIMENTS.md). Same layouts as F(4×4) (WinogradF4x4.swift) with 64 points instead of 36; the
// transforms go through the V/M buffers in two passes (rows, then columns) instead of holding a
// whole 8×8 patch in registers (64 vectors: spills).
import CVggSupport
import VGGFormat

typealias V16x8 = (V16, V16, V16, V16, V16, V16, V16, V16)

/// Bᵀ applied to 8 values.
@inline(__always)
func inputTransformF6x6(_ d: V16x8) -> V16x8 {
    let fiveAndQuarter = V16(repeating: 5.25), minusFourAndQuarter = V16(repeating: -4.25), minusOneAndQuarter = V16(repeating: -1.25)
    let quarter = V16(repeating: 0.25), half = V16(repeating: 0.5), two = V16(repeating: 2)
    let minusTwoAndHalf = V16(repeating: -2.5), four = V16(repeating: 4)
    let r0 = multiplyAdd(d.0 - d.6, d.4 - d.2, fiveAndQuarter)
    let r7 = multiplyAdd(d.7 - d.1, d.3 - d.5, fiveAndQuarter)
    let t1 = multiplyAdd(d.2 + d.6, d.4, minusFourAndQuarter), t2 = multiplyAdd(d.1 + d.5, d.3, minusFourAndQuarter)
    let t3 = multiplyAdd(multiplyAdd(d.6, d.2, quarter), d.4, minusOneAndQuarter)
    let t4 = multiplyAdd(multiplyAdd(d.1 * half, d.3, minusTwoAndHalf), d.5, two)
    let t5 = multiplyAdd(d.6, multiplyAdd(d.2, d.4, minusOneAndQuarter), four)
    let t6 = multiplyAdd(multiplyAdd(d.1 * two, d.3, minusTwoAndHalf), d.5, half)
    return (r0, t1 + t2, t1 - t2, t3 + t4, t3 - t4, t5 + t6, t5 - t6, r7)
}

/// G applied to 3 values: (g0, −2/9 (g0 + g1 + g2), −2/9 (g0 − g1 + g2), g0/90 + g1/45 + 2g2/45,
/// g0/90 − g1/45 + 2g2/45, 32g0/45 + 16g1/45 + 8g2/45, 32g0/45 − 16g1/45 + 8g2/45, g2).
@inline(__always)
func kernelTransformF6x6(_ g0: V16, _ g1: V16, _ g2: V16) -> V16x8 {
    let s = g0 + g2
    let minusTwoNinths = V16(repeating: -2.0 / 9)
    let p = multiplyAdd(g0 * V16(repeating: 1.0 / 90), g2, V16(repeating: 2.0 / 45))
    let q = g1 * V16(repeating: 1.0 / 45)
    let r = multiplyAdd(g0 * V16(repeating: 32.0 / 45), g2, V16(repeating: 8.0 / 45))
    let w = g1 * V16(repeating: 16.0 / 45)
    return (g0, (s + g1) * minusTwoNinths, (s - g1) * minusTwoNinths, p + q, p - q, r + w, r - w, g2)
}

/// Aᵀ applied to 8 values: (m0 + a + c + e, b + 2d + f/2, a + 4c + e/4, b + 8d + f/8,
/// a + 16c + e/16, b + 32d + f/32 + m7) with a, b = m1 ± m2, c, d = m3 ± m4, e, f = m5 ± m6.
@inline(__always)
func outputTransformF6x6(_ m: V16x8) -> (V16, V16, V16, V16, V16, V16) {
    let a = m.1 + m.2, b = m.1 - m.2, c = m.3 + m.4, d = m.3 - m.4, e = m.5 + m.6, f = m.5 - m.6
    return (m.0 + a + c + e,
            multiplyAdd(multiplyAdd(b, d, V16(repeating: 2)), f, V16(repeating: 0.5)),
            multiplyAdd(multiplyAdd(a, c, V16(repeating: 4)), e, V16(repeating: 0.25)),
            multiplyAdd(multiplyAdd(b, d, V16(repeating: 8)), f, V16(repeating: 0.125)),
            multiplyAdd(multiplyAdd(a, c, V16(repeating: 16)), e, V16(repeating: 0.0625)),
            multiplyAdd(multiplyAdd(b + m.7, d, V16(repeating: 32)), f, V16(repeating: 0.03125)))
}

/// Loads 8 vectors `stride` floats apart.
@inline(__always)
func loadPoints8(_ p: UnsafeRawPointer, _ at: Int, _ stride: Int) -> V16x8 {
    (loadV(p, at), loadV(p, at &+ stride), loadV(p, at &+ 2 &* stride), loadV(p, at &+ 3 &* stride),
     loadV(p, at &+ 4 &* stride), loadV(p, at &+ 5 &* stride), loadV(p, at &+ 6 &* stride), loadV(p, at &+ 7 &* stride))
}

/// Stores 8 vectors `stride` floats apart.
@inline(__always)
func storePoints8(_ p: UnsafeMutableRawPointer, _ at: Int, _ stride: Int, _ v: V16x8) {
    storeV(p, at, v.0); storeV(p, at &+ stride, v.1); storeV(p, at &+ 2 &* stride, v.2)
    storeV(p, at &+ 3 &* stride, v.3); storeV(p, at &+ 4 &* stride, v.4); storeV(p, at &+ 5 &* stride, v.5)
    storeV(p, at &+ 6 &* stride, v.6); storeV(p, at &+ 7 &* stride, v.7)
}

extension Kernels {
    /// F(6×6) U[ξ][c − first][k][16] of one output-block pair (see forEachPairKernel): G g Gᵀ, 64 points.
    @inline(__always)
    static func transformPairF6x6<W: WeightLoad>(_: W.Type, _ weights: UnsafeRawPointer, _ C: Int, _ outBlocks: Int,
                                              _ block: Int, _ first: Int, _ count: Int, _ u: UnsafeMutablePointer<Float>,
                                              _ xiStride: Int) {
        let out = UnsafeMutableRawPointer(u)
        forEachPairKernel(W.self, weights, C, outBlocks, block, first, count) { base, t, at in
            // G g column by column, then each of its 8 rows to the points ξ = 8i … 8i + 7.
            let col0 = kernelTransformF6x6(W.load(base, t), W.load(base, t &+ 3), W.load(base, t &+ 6))
            let col1 = kernelTransformF6x6(W.load(base, t &+ 1), W.load(base, t &+ 4), W.load(base, t &+ 7))
            let col2 = kernelTransformF6x6(W.load(base, t &+ 2), W.load(base, t &+ 5), W.load(base, t &+ 8))
            storePoints8(out, at, xiStride, kernelTransformF6x6(col0.0, col1.0, col2.0))
            storePoints8(out, at &+ 8 &* xiStride, xiStride, kernelTransformF6x6(col0.1, col1.1, col2.1))
            storePoints8(out, at &+ 16 &* xiStride, xiStride, kernelTransformF6x6(col0.2, col1.2, col2.2))
            storePoints8(out, at &+ 24 &* xiStride, xiStride, kernelTransformF6x6(col0.3, col1.3, col2.3))
            storePoints8(out, at &+ 32 &* xiStride, xiStride, kernelTransformF6x6(col0.4, col1.4, col2.4))
            storePoints8(out, at &+ 40 &* xiStride, xiStride, kernelTransformF6x6(col0.5, col1.5, col2.5))
            storePoints8(out, at &+ 48 &* xiStride, xiStride, kernelTransformF6x6(col0.6, col1.6, col2.6))
            storePoints8(out, at &+ 56 &* xiStride, xiStride, kernelTransformF6x6(col0.7, col1.7, col2.7))
        }
    }

    /// F(6×6) V of tiles tileStart..<tileEnd (see winogradInput): d B of each patch row into
    /// V[8i + j], then Bᵀ down each column j in place.
    static func winogradInputF6x6(input: UnsafePointer<Float>, geometry g: WinogradGeometry, inputBlock: Int,
                               groupStart: Int, groupTiles: Int, tileStart: Int, tileEnd: Int,
                               into v: UnsafeMutablePointer<Float>) {
        let rowIn = g.inBufferWidth &* 16
        let blockPlane = UnsafeRawPointer(input + inputBlock &* g.inBufferHeight &* rowIn)
        let vStride = g.inputStride(tiles: groupTiles)
        let out = UnsafeMutableRawPointer(v)
        let tilesW = g.tilesW, imageTiles = g.imageTiles
        for t in tileStart..<tileEnd {
            let image = (groupStart &+ t) / imageTiles, tile = groupStart &+ t &- image &* imageTiles
            let plane = blockPlane + image &* g.inImageFloats &* 4
            let tileRow = tile / tilesW, tileColumn = tile &- tileRow &* tilesW
            // Patch rows 6r − 1 … 6r + 6, columns 6j − 1 … 6j + 6 of the image.
            let p0 = (6 &* tileRow &- 1 &+ g.inBorder) &* rowIn &+ (6 &* tileColumn &- 1 &+ g.inBorder) &* 16
            let at = (inputBlock &* groupTiles &+ t) &* 16
            for i in 0..<8 {
                storePoints8(out, at &+ 8 &* i &* vStride, vStride, inputTransformF6x6(loadPoints8(plane, p0 &+ i &* rowIn, 16)))
            }
            let s8 = 8 &* vStride
            for j in 0..<8 {
                storePoints8(out, at &+ j &* vStride, s8, inputTransformF6x6(loadPoints8(UnsafeRawPointer(out), at &+ j &* vStride, s8)))
            }
        }
    }

    /// F(6×6) Y = Aᵀ M A of tiles tileStart..<tileEnd, blocks `block` and `block + 1`, with bias,
    /// ReLU and the optional fused 2×2 max pooling (see winogradPairProducts). M A row by row in
    /// place (ξ = 8i … 8i + 5), then Aᵀ down each column q into ξ = 8r + q, then the stores.
    @inline(__always)
    static func winogradOutputF6x6(bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry,
                                block: Int, groupStart: Int, tileStart: Int, tileEnd: Int, products m: UnsafeMutablePointer<Float>) {
        let count = tileEnd &- tileStart
        let mStride = WinogradGeometry.productStride(tiles: count)
        let mr = UnsafeMutableRawPointer(m)
        let rowFloats = g.pool ? (g.pooledWidth &+ 2 &* g.pooledBorder) &* 16 : (g.outWidth &+ 2 &* g.outBorder) &* 16
        let outPlane = (g.pool ? g.pooledHeight &+ 2 &* g.pooledBorder : g.outHeight &+ 2 &* g.outBorder) &* rowFloats
        let tilesW = g.tilesW, imageTiles = g.imageTiles
        let blocks = block &+ 1 < g.outBlocks ? 2 : 1
        let r = g.relu
        for k in 0..<blocks {
            let ob = block &+ k
            let biasVector = bias.map { vload(UnsafeRawPointer($0), ob &* 64) } ?? .zero
            @inline(__always) func finish(_ y: V16) -> V16 { r ? relu(y + biasVector) : y + biasVector }
            let blockPlane = UnsafeMutableRawPointer(output + ob &* outPlane)
            for t in tileStart..<tileEnd {
                let base = (t &- tileStart) &* 32 &+ k &* 16
                for i in 0..<8 {
                    let y = outputTransformF6x6(loadPoints8(UnsafeRawPointer(mr), base &+ 8 &* i &* mStride, mStride))
                    let at = base &+ 8 &* i &* mStride
                    storeV(mr, at, y.0); storeV(mr, at &+ mStride, y.1); storeV(mr, at &+ 2 &* mStride, y.2)
                    storeV(mr, at &+ 3 &* mStride, y.3); storeV(mr, at &+ 4 &* mStride, y.4); storeV(mr, at &+ 5 &* mStride, y.5)
                }
                let s8 = 8 &* mStride
                for q in 0..<6 {
                    let y = outputTransformF6x6(loadPoints8(UnsafeRawPointer(mr), base &+ q &* mStride, s8))
                    let at = base &+ q &* mStride
                    storeV(mr, at, y.0); storeV(mr, at &+ s8, y.1); storeV(mr, at &+ 2 &* s8, y.2)
                    storeV(mr, at &+ 3 &* s8, y.3); storeV(mr, at &+ 4 &* s8, y.4); storeV(mr, at &+ 5 &* s8, y.5)
                }
                // Output (row ry, column q) of the tile is now at ξ = 8·ry + q.
                @inline(__always) func value(_ ry: Int, _ q: Int) -> V16 { loadV(UnsafeRawPointer(mr), base &+ (8 &* ry &+ q) &* mStride) }
                let image = (groupStart &+ t) / imageTiles, tile = groupStart &+ t &- image &* imageTiles
                let plane = blockPlane + image &* g.outImageFloats &* 4
                let tileRow = tile / tilesW, tileColumn = tile &- tileRow &* tilesW
                let oy = 6 &* tileRow, ox = 6 &* tileColumn
                let rows = min(6, g.outHeight &- oy), columns = min(6, g.outWidth &- ox)
                if g.pool {
                    // Pooled (oy/2 + pr, ox/2 + pc): the maximum over its window clipped to the
                    // image; bias and ReLU after the maximum (they commute with it).
                    let py = oy &>> 1, px = ox &>> 1
                    for pr in 0..<3 where 2 &* pr < rows && py &+ pr < g.pooledHeight {
                        for pc in 0..<3 where 2 &* pc < columns && px &+ pc < g.pooledWidth {
                            let y0 = 2 &* pr, x0 = 2 &* pc
                            var best = value(y0, x0)
                            if x0 &+ 1 < columns { best = vggsupport_larger16(best, value(y0, x0 &+ 1)) }
                            if y0 &+ 1 < rows {
                                best = vggsupport_larger16(best, value(y0 &+ 1, x0))
                                if x0 &+ 1 < columns { best = vggsupport_larger16(best, value(y0 &+ 1, x0 &+ 1)) }
                            }
                            storeV(plane, (py &+ pr &+ g.pooledBorder) &* rowFloats &+ (px &+ pc &+ g.pooledBorder) &* 16, finish(best))
                        }
                    }
                    continue
                }
                for ry in 0..<rows {
                    let at = (oy &+ ry &+ g.outBorder) &* rowFloats &+ (ox &+ g.outBorder) &* 16
                    for q in 0..<columns { storeV(plane, at &+ q &* 16, finish(value(ry, q))) }
                }
            }
        }
    }
}
