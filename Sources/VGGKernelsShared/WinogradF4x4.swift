// Winograd F(4×4, 3×3): each 4×4 output tile from a 6×6 input patch, 36 points ξ (Lavin & Gray
// 2015, points 0, ±1, ±2, ∞): 36 multiplications per (input, output) channel pair instead of 144.
// The transforms; the drivers are in Winograd.swift.
// Shared by the per-ISA modules (VGGKernelsBase/V3/V4 hold symlinks to this file and build it
// with their -march); the rules of WeightLoading.swift for generic code apply.
import CVggSupport
import VGGFormat

/// Bᵀ applied to 6 values: (4d0 − 5d2 + d4, −4(d1 + d2) + d3 + d4, 4(d1 − d2) − d3 + d4,
/// 2(d3 − d1) − d2 + d4, −2(d3 − d1) − d2 + d4, 4d1 − 5d3 + d5).
@inline(__always)
func inputTransformF4x4(_ d0: V16, _ d1: V16, _ d2: V16, _ d3: V16, _ d4: V16, _ d5: V16) -> (V16, V16, V16, V16, V16, V16) {
    let four = V16(repeating: 4), minusFour = V16(repeating: -4), minusFive = V16(repeating: -5)
    let two = V16(repeating: 2), minusTwo = V16(repeating: -2)
    let q = d4 - d2, w = d3 - d1
    return (multiplyAdd(multiplyAdd(d4, four, d0), minusFive, d2),
            multiplyAdd(d3 + d4, minusFour, d1 + d2),
            multiplyAdd(d4 - d3, four, d1 - d2),
            multiplyAdd(q, two, w),
            multiplyAdd(q, minusTwo, w),
            multiplyAdd(multiplyAdd(d5, four, d1), minusFive, d3))
}

/// G applied to 3 values: (g0/4, −(g0 + g1 + g2)/6, −(g0 − g1 + g2)/6, g0/24 + g1/12 + g2/6,
/// g0/24 − g1/12 + g2/6, g2).
@inline(__always)
func kernelTransformF4x4(_ g0: V16, _ g1: V16, _ g2: V16) -> (V16, V16, V16, V16, V16, V16) {
    let s = g0 + g2
    let minusSixth = V16(repeating: -1.0 / 6)
    let p = multiplyAdd(g0 * V16(repeating: 1.0 / 24), g2, V16(repeating: 1.0 / 6))
    let q = g1 * V16(repeating: 1.0 / 12)
    return (g0 * V16(repeating: 0.25), (s + g1) * minusSixth, (s - g1) * minusSixth, p + q, p - q, g2)
}

/// Aᵀ applied to 6 values: (m0 + m1 + m2 + m3 + m4, (m1 − m2) + 2(m3 − m4),
/// (m1 + m2) + 4(m3 + m4), (m1 − m2) + 8(m3 − m4) + m5).
@inline(__always)
func outputTransformF4x4(_ m0: V16, _ m1: V16, _ m2: V16, _ m3: V16, _ m4: V16, _ m5: V16) -> (V16, V16, V16, V16) {
    let a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4
    return (m0 + a + c, multiplyAdd(b, V16(repeating: 2), d), multiplyAdd(a, V16(repeating: 4), c),
            multiplyAdd(b + m5, V16(repeating: 8), d))
}

/// Stores 6 transformed values at ξ = first, first + step, … (floats `stride` apart per ξ).
@inline(__always)
func store6(_ p: UnsafeMutableRawPointer, _ at: Int, _ stride: Int, _ v: (V16, V16, V16, V16, V16, V16)) {
    storeV(p, at, v.0); storeV(p, at &+ stride, v.1); storeV(p, at &+ 2 &* stride, v.2)
    storeV(p, at &+ 3 &* stride, v.3); storeV(p, at &+ 4 &* stride, v.4); storeV(p, at &+ 5 &* stride, v.5)
}

/// Stores 6 vectors as bf16 (vggsupport_bf16x16), `stride` elements apart.
@inline(__always)
func store6BF16(_ p: UnsafeMutablePointer<UInt16>, _ at: Int, _ stride: Int, _ v: (V16, V16, V16, V16, V16, V16)) {
    @inline(__always) func put(_ k: Int, _ x: V16) {
        UnsafeMutableRawPointer(p + (at &+ k &* stride)).storeBytes(of: vggsupport_bf16x16(x), as: SIMD16<UInt16>.self)
    }
    put(0, v.0); put(1, v.1); put(2, v.2); put(3, v.3); put(4, v.4); put(5, v.5)
}

/// Loads 6 vectors `stride` floats apart.
@inline(__always)
func load6(_ p: UnsafeRawPointer, _ at: Int, _ stride: Int) -> (V16, V16, V16, V16, V16, V16) {
    (loadV(p, at), loadV(p, at &+ stride), loadV(p, at &+ 2 &* stride), loadV(p, at &+ 3 &* stride),
     loadV(p, at &+ 4 &* stride), loadV(p, at &+ 5 &* stride))
}

extension Kernels {
    /// F(4×4) U[ξ][c − first][k][16] (ξ `xiStride` floats apart) of one output-block pair (see
    /// forEachPairKernel): G g Gᵀ of each input channel's 3×3 kernel, 16 output channels per vector.
    @inline(__always)
    static func transformPairF4x4<W: WeightLoad>(_: W.Type, _ weights: UnsafeRawPointer, _ C: Int, _ outBlocks: Int,
                                             _ block: Int, _ first: Int, _ count: Int, _ u: UnsafeMutablePointer<Float>,
                                             _ xiStride: Int) {
        let out = UnsafeMutableRawPointer(u)
        forEachPairKernel(W.self, weights, C, outBlocks, block, first, count) { base, t, at in
            // G g: combine the kernel's rows, column by column.
            let col0 = kernelTransformF4x4(W.load(base, t), W.load(base, t &+ 3), W.load(base, t &+ 6))
            let col1 = kernelTransformF4x4(W.load(base, t &+ 1), W.load(base, t &+ 4), W.load(base, t &+ 7))
            let col2 = kernelTransformF4x4(W.load(base, t &+ 2), W.load(base, t &+ 5), W.load(base, t &+ 8))
            // (G g) Gᵀ: row i of G g to the 6 points ξ = 6i … 6i + 5.
            store6(out, at, xiStride, kernelTransformF4x4(col0.0, col1.0, col2.0))
            store6(out, at &+ 6 &* xiStride, xiStride, kernelTransformF4x4(col0.1, col1.1, col2.1))
            store6(out, at &+ 12 &* xiStride, xiStride, kernelTransformF4x4(col0.2, col1.2, col2.2))
            store6(out, at &+ 18 &* xiStride, xiStride, kernelTransformF4x4(col0.3, col1.3, col2.3))
            store6(out, at &+ 24 &* xiStride, xiStride, kernelTransformF4x4(col0.4, col1.4, col2.4))
            store6(out, at &+ 30 &* xiStride, xiStride, kernelTransformF4x4(col0.5, col1.5, col2.5))
        }
    }

    /// winogradInput for F(4×4): Bᵀ d B of each tile's 6×6 input patch.
    static func winogradInputF4x4(input: UnsafePointer<Float>, geometry g: WinogradGeometry, inputBlock: Int,
                                  groupStart: Int, groupTiles: Int, tileStart: Int, tileEnd: Int,
                                  into v: UnsafeMutablePointer<Float>) {
        let vStride = g.inputStride(tiles: groupTiles)
        let out = UnsafeMutableRawPointer(v)
        transformInputTilesF4x4(input, g, inputBlock, groupStart, tileStart, tileEnd) { t, k, column in
            // Column point k of tile t to ξ = k, 6 + k, …, 30 + k.
            store6(out, (inputBlock &* groupTiles &+ t) &* 16 &+ k &* vStride, 6 &* vStride, column)
        }
    }

    /// winogradInputF4x4 into the layout AMX tiles read (vggamx_interleave_inputs): V in bf16,
    /// the 16 channels of input block b at element (b/2)·groupTiles·32 + t·32 + (b % 2)·16 of
    /// point ξ (ξ inputStride(tiles: groupTiles) elements apart): the same values as the
    /// transform followed by that conversion, without writing and reading V in f32.
    static func winogradInputF4x4Tiles(input: UnsafePointer<Float>, geometry g: WinogradGeometry, inputBlock: Int,
                                       groupStart: Int, groupTiles: Int, tileStart: Int, tileEnd: Int,
                                       into v: UnsafeMutablePointer<UInt16>) {
        let vStride = g.inputStride(tiles: groupTiles)
        let row = (inputBlock &>> 1) &* groupTiles &* 32 &+ (inputBlock & 1) &* 16
        transformInputTilesF4x4(input, g, inputBlock, groupStart, tileStart, tileEnd) { t, k, column in
            store6BF16(v, row &+ t &* 32 &+ k &* vStride, 6 &* vStride, column)
        }
    }

    /// Bᵀ d B of input block `inputBlock` of tiles groupStart + t, t in tileStart..<tileEnd: for
    /// each tile its 6 column points k, each the 6 points ξ = k, 6 + k, …, 30 + k, handed to
    /// `store(t, k, points)`.
    @inline(__always)
    static func transformInputTilesF4x4(_ input: UnsafePointer<Float>, _ g: WinogradGeometry, _ inputBlock: Int,
                                        _ groupStart: Int, _ tileStart: Int, _ tileEnd: Int,
                                        _ store: (Int, Int, (V16, V16, V16, V16, V16, V16)) -> Void) {
        let rowIn = g.inBufferWidth &* 16
        let blockPlane = UnsafeRawPointer(input + inputBlock &* g.inBufferHeight &* rowIn)
        let tilesW = g.tilesW, imageTiles = g.imageTiles
        for t in tileStart..<tileEnd {
            let image = (groupStart &+ t) / imageTiles, tile = groupStart &+ t &- image &* imageTiles
            let plane = blockPlane + image &* g.inImageFloats &* 4
            let tileRow = tile / tilesW, tileColumn = tile &- tileRow &* tilesW
            // Patch rows 4r − 1 … 4r + 4, columns 4j − 1 … 4j + 4 of the image.
            let p0 = (4 &* tileRow &- 1 &+ g.inBorder) &* rowIn &+ (4 &* tileColumn &- 1 &+ g.inBorder) &* 16
            // d B: each patch row's 6 values to the 6 column points.
            let r0 = inputRowF4x4(plane, p0)
            let r1 = inputRowF4x4(plane, p0 &+ rowIn)
            let r2 = inputRowF4x4(plane, p0 &+ 2 &* rowIn)
            let r3 = inputRowF4x4(plane, p0 &+ 3 &* rowIn)
            let r4 = inputRowF4x4(plane, p0 &+ 4 &* rowIn)
            let r5 = inputRowF4x4(plane, p0 &+ 5 &* rowIn)
            // Bᵀ (d B) of each column point.
            store(t, 0, inputTransformF4x4(r0.0, r1.0, r2.0, r3.0, r4.0, r5.0))
            store(t, 1, inputTransformF4x4(r0.1, r1.1, r2.1, r3.1, r4.1, r5.1))
            store(t, 2, inputTransformF4x4(r0.2, r1.2, r2.2, r3.2, r4.2, r5.2))
            store(t, 3, inputTransformF4x4(r0.3, r1.3, r2.3, r3.3, r4.3, r5.3))
            store(t, 4, inputTransformF4x4(r0.4, r1.4, r2.4, r3.4, r4.4, r5.4))
            store(t, 5, inputTransformF4x4(r0.5, r1.5, r2.5, r3.5, r4.5, r5.5))
        }
    }

    /// Bᵀ applied along one patch row (6 consecutive pixel vectors from float offset `at`).
    @inline(__always)
    static func inputRowF4x4(_ plane: UnsafeRawPointer, _ at: Int) -> (V16, V16, V16, V16, V16, V16) {
        let d = load6(plane, at, 16)
        return inputTransformF4x4(d.0, d.1, d.2, d.3, d.4, d.5)
    }

    /// Aᵀ applied to 6 M vectors `stride` floats apart.
    @inline(__always)
    static func outputPointsF4x4(_ m: UnsafeRawPointer, _ at: Int, _ stride: Int) -> (V16, V16, V16, V16) {
        let x = load6(m, at, stride)
        return outputTransformF4x4(x.0, x.1, x.2, x.3, x.4, x.5)
    }
}
