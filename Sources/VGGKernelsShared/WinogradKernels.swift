// Winograd F(2×2, 3×3) for 3×3 stride-1 pad-1 convolutions on blocked activations: each 2×2
// output tile costs 16 multiplications per (input, output) channel pair instead of 36.
// Transforms (Lavin & Gray 2015): V = Bᵀ d B, U = G g Gᵀ, Y = Aᵀ (U ⊙ V) A, coefficients
// 0, ±1, ±½ only, so rounding stays close to direct convolution's. Shared by the per-ISA
// modules like ConvolutionKernels.swift (no arrays or other generic containers here). The
// product loop keeps 16 vector accumulators (two output blocks): register-resident with
// AVX-512, spilled on AVX2/SSE, where it is still ~1.7× faster than direct convolution.
import VGGFormat

typealias V16 = SIMD16<Float>

/// Bᵀ applied to 4 values: (a − c, b + c, c − b, b − d).
@inline(__always)
func inputTransform(_ a: V16, _ b: V16, _ c: V16, _ d: V16) -> (V16, V16, V16, V16) {
    (a - c, b + c, c - b, b - d)
}

/// G applied to 3 values: (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2).
@inline(__always)
func kernelTransform(_ g0: V16, _ g1: V16, _ g2: V16) -> (V16, V16, V16, V16) {
    let h = V16(repeating: 0.5)
    let s = g0 + g2
    return (g0, (s + g1) * h, (s - g1) * h, g2)
}

/// Aᵀ applied to 4 values: (m0 + m1 + m2, m1 − m2 − m3).
@inline(__always)
func outputTransform(_ m0: V16, _ m1: V16, _ m2: V16, _ m3: V16) -> (V16, V16) {
    (m0 + m1 + m2, m1 - m2 - m3)
}

@inline(__always)
func loadV(_ p: UnsafeRawPointer, _ floatOffset: Int) -> V16 {
    vload(p, floatOffset &* 4)
}

@inline(__always)
func storeV(_ p: UnsafeMutableRawPointer, _ floatOffset: Int, _ v: V16) {
    (p + floatOffset &* 4).assumingMemoryBound(to: V16.self).pointee = v
}

extension Kernels {
    /// U[ξ][ob][c][16] for output block `block`: G g Gᵀ of every input channel's 3×3 kernel,
    /// 16 output channels per vector. `u` holds 16 × outBlocks × inChannels × 16 floats.
    public static func winogradWeights(weights: UnsafeRawPointer, dtype: UInt32, inChannels: Int, outBlocks: Int,
                                       block: Int, into u: UnsafeMutablePointer<Float>) {
        switch dtype {
        case 2: transformWeights(F16Weights.self, weights, inChannels, outBlocks, block, u)
        case 3: transformWeights(BF16Weights.self, weights, inChannels, outBlocks, block, u)
        default: transformWeights(F32Weights.self, weights, inChannels, outBlocks, block, u)
        }
    }

    @inline(__always)
    static func transformWeights<W: WeightLoad>(_: W.Type, _ weights: UnsafeRawPointer, _ C: Int, _ outBlocks: Int,
                                                _ block: Int, _ u: UnsafeMutablePointer<Float>) {
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let base = weights + block &* C &* 9 &* vectorBytes
        let xiStride = outBlocks &* C &* 16
        let out = UnsafeMutableRawPointer(u)
        for c in 0..<C {
            let t = c &* 9
            // Gg (4×3): combine the kernel's rows, column by column.
            let col0 = kernelTransform(W.load(base, t), W.load(base, t &+ 3), W.load(base, t &+ 6))
            let col1 = kernelTransform(W.load(base, t &+ 1), W.load(base, t &+ 4), W.load(base, t &+ 7))
            let col2 = kernelTransform(W.load(base, t &+ 2), W.load(base, t &+ 5), W.load(base, t &+ 8))
            // (Gg)Gᵀ: combine each row's three values.
            let r0 = kernelTransform(col0.0, col1.0, col2.0)
            let r1 = kernelTransform(col0.1, col1.1, col2.1)
            let r2 = kernelTransform(col0.2, col1.2, col2.2)
            let r3 = kernelTransform(col0.3, col1.3, col2.3)
            let at = (block &* C &+ c) &* 16
            storeV(out, at, r0.0); storeV(out, at &+ xiStride, r0.1)
            storeV(out, at &+ 2 &* xiStride, r0.2); storeV(out, at &+ 3 &* xiStride, r0.3)
            storeV(out, at &+ 4 &* xiStride, r1.0); storeV(out, at &+ 5 &* xiStride, r1.1)
            storeV(out, at &+ 6 &* xiStride, r1.2); storeV(out, at &+ 7 &* xiStride, r1.3)
            storeV(out, at &+ 8 &* xiStride, r2.0); storeV(out, at &+ 9 &* xiStride, r2.1)
            storeV(out, at &+ 10 &* xiStride, r2.2); storeV(out, at &+ 11 &* xiStride, r2.3)
            storeV(out, at &+ 12 &* xiStride, r3.0); storeV(out, at &+ 13 &* xiStride, r3.1)
            storeV(out, at &+ 14 &* xiStride, r3.2); storeV(out, at &+ 15 &* xiStride, r3.3)
        }
    }

    /// One tile row (output rows 2·tileRow and 2·tileRow + 1) of output blocks `block` and
    /// `block + 1` (or `block` alone when it is the last): input transform, 16 products,
    /// output transform with bias and ReLU. `scratch` holds g.scratchFloats floats.
    public static func winogradTileRow(input: UnsafePointer<Float>, u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                       output: UnsafeMutablePointer<Float>, geometry g: WinogradGeometry,
                                       block: Int, tileRow: Int, scratch: UnsafeMutablePointer<Float>) {
        let tw = g.tilesW, C = g.inChannels, cb = g.inBlocks
        let vStride = cb &* tw &* 16                       // floats between consecutive ξ in V
        let v = UnsafeMutableRawPointer(scratch)            // V[ξ][cb][tile][16]
        let mOffset = 16 &* vStride
        let m = UnsafeMutableRawPointer(scratch + mOffset)  // M[ξ][tile][2][16]
        let planeIn = g.inBufferHeight &* g.inBufferWidth &* 16
        let rowIn = g.inBufferWidth &* 16
        let y0 = 2 &* tileRow &- 1 &+ g.inBorder

        // Input transform of every 4×4 patch (rows 2r−1 … 2r+2, columns 2j−1 … 2j+2).
        for b in 0..<cb {
            let plane = UnsafeRawPointer(input + b &* planeIn)
            for j in 0..<tw {
                let x0 = 2 &* j &- 1 &+ g.inBorder
                let p0 = y0 &* rowIn &+ x0 &* 16
                let p1 = p0 &+ rowIn, p2 = p1 &+ rowIn, p3 = p2 &+ rowIn
                // Bᵀ d: combine the 4 rows, column by column.
                let c0 = inputTransform(loadV(plane, p0), loadV(plane, p1), loadV(plane, p2), loadV(plane, p3))
                let c1 = inputTransform(loadV(plane, p0 &+ 16), loadV(plane, p1 &+ 16), loadV(plane, p2 &+ 16), loadV(plane, p3 &+ 16))
                let c2 = inputTransform(loadV(plane, p0 &+ 32), loadV(plane, p1 &+ 32), loadV(plane, p2 &+ 32), loadV(plane, p3 &+ 32))
                let c3 = inputTransform(loadV(plane, p0 &+ 48), loadV(plane, p1 &+ 48), loadV(plane, p2 &+ 48), loadV(plane, p3 &+ 48))
                // (Bᵀ d) B: combine each row's 4 values.
                let r0 = inputTransform(c0.0, c1.0, c2.0, c3.0)
                let r1 = inputTransform(c0.1, c1.1, c2.1, c3.1)
                let r2 = inputTransform(c0.2, c1.2, c2.2, c3.2)
                let r3 = inputTransform(c0.3, c1.3, c2.3, c3.3)
                let at = (b &* tw &+ j) &* 16
                storeV(v, at, r0.0); storeV(v, at &+ vStride, r0.1)
                storeV(v, at &+ 2 &* vStride, r0.2); storeV(v, at &+ 3 &* vStride, r0.3)
                storeV(v, at &+ 4 &* vStride, r1.0); storeV(v, at &+ 5 &* vStride, r1.1)
                storeV(v, at &+ 6 &* vStride, r1.2); storeV(v, at &+ 7 &* vStride, r1.3)
                storeV(v, at &+ 8 &* vStride, r2.0); storeV(v, at &+ 9 &* vStride, r2.1)
                storeV(v, at &+ 10 &* vStride, r2.2); storeV(v, at &+ 11 &* vStride, r2.3)
                storeV(v, at &+ 12 &* vStride, r3.0); storeV(v, at &+ 13 &* vStride, r3.1)
                storeV(v, at &+ 14 &* vStride, r3.2); storeV(v, at &+ 15 &* vStride, r3.3)
            }
        }

        // Products: M[ξ][tile][k] = Σ_c U[ξ][block + k][c] · V[ξ][c][tile], 8 tiles at a time.
        let second = block &+ 1 < g.outBlocks ? block &+ 1 : block
        let uStride = g.outBlocks &* C &* 16
        let vFloats = UnsafePointer<Float>(scratch)
        for xi in 0..<16 {
            let u0 = UnsafeRawPointer(u + (xi &* uStride &+ block &* C &* 16))
            let u1 = UnsafeRawPointer(u + (xi &* uStride &+ second &* C &* 16))
            let vx = vFloats + xi &* vStride
            var j0 = 0
            while j0 < tw {
                let n = min(8, tw &- j0)
                let offsets = Offsets8(pixels: n, step: 16)
                var tile = PairTile(.zero, .zero)
                for c in 0..<C {
                    let p = vx + (((c &>> 4) &* tw &+ j0) &* 16 &+ (c & 15))
                    tile.step(p, offsets, vload(u0, c &* 64), vload(u1, c &* 64))
                }
                let at = UnsafeMutableRawPointer(m + (xi &* tw &+ j0) &* 32 &* 4)
                tile.store(first: at, second: at + 64, pixels: n, pixelBytes: 128)
                j0 &+= 8
            }
        }

        // Output transform: Y = Aᵀ M A, bias, ReLU, into the output buffer.
        let rowFloats = (g.outWidth &+ 2 &* g.outBorder) &* 16
        let outPlane = (g.outHeight &+ 2 &* g.outBorder) &* rowFloats
        let mr = UnsafeRawPointer(m)
        let pairs = second == block ? 1 : 2
        for k in 0..<pairs {
            let ob = block &+ k
            let biasVector = bias.map { vload(UnsafeRawPointer($0), ob &* 64) } ?? .zero
            let plane = UnsafeMutableRawPointer(output + ob &* outPlane)
            for j in 0..<tw {
                let base = j &* 32 &+ k &* 16
                let xs = tw &* 32  // floats between consecutive ξ in M
                // Aᵀ M: combine the 4 rows of M, column by column.
                let col0 = outputTransform(loadV(mr, base), loadV(mr, base &+ 4 &* xs), loadV(mr, base &+ 8 &* xs), loadV(mr, base &+ 12 &* xs))
                let col1 = outputTransform(loadV(mr, base &+ xs), loadV(mr, base &+ 5 &* xs), loadV(mr, base &+ 9 &* xs), loadV(mr, base &+ 13 &* xs))
                let col2 = outputTransform(loadV(mr, base &+ 2 &* xs), loadV(mr, base &+ 6 &* xs), loadV(mr, base &+ 10 &* xs), loadV(mr, base &+ 14 &* xs))
                let col3 = outputTransform(loadV(mr, base &+ 3 &* xs), loadV(mr, base &+ 7 &* xs), loadV(mr, base &+ 11 &* xs), loadV(mr, base &+ 15 &* xs))
                // (Aᵀ M) A: each of the 2 rows' 4 values to 2.
                var top = outputTransform(col0.0, col1.0, col2.0, col3.0)
                var bottom = outputTransform(col0.1, col1.1, col2.1, col3.1)
                top.0 += biasVector; top.1 += biasVector; bottom.0 += biasVector; bottom.1 += biasVector
                if g.relu {
                    top.0 = relu(top.0); top.1 = relu(top.1); bottom.0 = relu(bottom.0); bottom.1 = relu(bottom.1)
                }
                let oy = 2 &* tileRow, ox = 2 &* j
                let at = (oy &+ g.outBorder) &* rowFloats &+ (ox &+ g.outBorder) &* 16
                let hasRight = ox &+ 1 < g.outWidth, hasBottom = oy &+ 1 < g.outHeight
                storeV(plane, at, top.0)
                if hasRight { storeV(plane, at &+ 16, top.1) }
                if hasBottom {
                    storeV(plane, at &+ rowFloats, bottom.0)
                    if hasRight { storeV(plane, at &+ rowFloats &+ 16, bottom.1) }
                }
            }
        }
    }
}
