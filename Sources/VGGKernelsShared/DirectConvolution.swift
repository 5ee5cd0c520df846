// Direct convolution on blocked activations (`[C/16][H+2b][W+2b][16]`) with OBLOCK16 weights
// (`[O/16][I][KH][KW][16]`): one 16-wide weight vector per tap, broadcast inputs, FMAs; the
// layers Winograd does not take (conv1_1, strided or non-3×3 kernels, narrow outputs).
// Shared by the per-ISA modules (VGGKernelsBase/V3/V4 hold symlinks to this file and build it
// with their -march); the rules of WeightLoading.swift for generic code apply.
import CVggSupport
import VGGFormat

extension Kernels {
    /// Computes output rows `rowStart..<rowEnd` of output block `block`, in tiles of 8 pixels.
    /// `dtype` is the weight DType raw value (1 f32, 2 f16, 3 bf16).
    public static func convolutionRows(input: UnsafePointer<Float>, weights: UnsafeRawPointer, dtype: UInt32,
                                       bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                       geometry g: ConvGeometry, block: Int, rowStart: Int, rowEnd: Int) {
        if pairBlocks && block + 1 < g.outBlocks {
            switch dtype {
            case 2: rowsPair(F16Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
            case 3: rowsPair(BF16Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
            default: rowsPair(F32Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
            }
            return
        }
        switch dtype {
        case 2: rows(F16Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
        case 3: rows(BF16Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
        default: rows(F32Weights.self, input, weights, bias, output, g, block, rowStart, rowEnd)
        }
    }

    /// Computes output pixels `pixelStart..<pixelEnd` (row-major) of output block `block` one
    /// pixel at a time, for narrow outputs (the fc layers). `offsets[t]` is the input offset
    /// (in floats) of tap t = (ci·KH + ky)·KW + kx relative to the pixel's window origin.
    public static func convolutionPixels(input: UnsafePointer<Float>, weights: UnsafeRawPointer, dtype: UInt32,
                                         bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                         geometry g: ConvGeometry, offsets: UnsafePointer<Int>,
                                         block: Int, pixelStart: Int, pixelEnd: Int) {
        switch dtype {
        case 2: pixels(F16Weights.self, input, weights, bias, output, g, offsets, block, pixelStart, pixelEnd)
        case 3: pixels(BF16Weights.self, input, weights, bias, output, g, offsets, block, pixelStart, pixelEnd)
        default: pixels(F32Weights.self, input, weights, bias, output, g, offsets, block, pixelStart, pixelEnd)
        }
    }

    @inline(__always)
    static func rows<W: WeightLoad>(_: W.Type, _ input: UnsafePointer<Float>, _ weights: UnsafeRawPointer,
                                    _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                    _ g: ConvGeometry, _ block: Int, _ rowStart: Int, _ rowEnd: Int) {
        let taps = g.taps
        let kh = g.kernelH, kw = g.kernelW
        let planeIn = g.inHeight &* g.inWidth &* 16
        let rowIn = g.inWidth &* 16
        let step = g.strideW &* 16
        let weightBase = weights + block &* taps &* (W.self == F32Weights.self ? 64 : 32)
        let biasVector = bias.map { vload(UnsafeRawPointer($0), block &* 64) } ?? .zero
        let outPlane = g.outBufferHeight &* g.outBufferWidth &* 16
        var oy = rowStart
        while oy < rowEnd {
            let outRow = output + block &* outPlane + ((oy &+ g.outBorder) &* g.outBufferWidth &+ g.outBorder) &* 16
            let iy0 = oy &* g.strideH &+ g.originY
            var ox = 0
            while ox < g.outWidth {
                let n = min(8, g.outWidth &- ox)
                // Pixel j reads at j·step; past the row's end the last pixel is recomputed, not stored.
                let o = Offsets8(pixels: n, step: step)
                var a0 = biasVector, a1 = biasVector, a2 = biasVector, a3 = biasVector
                var a4 = biasVector, a5 = biasVector, a6 = biasVector, a7 = biasVector
                let ix0 = ox &* g.strideW &+ g.originX
                var t = 0
                for ci in 0..<g.inChannels {
                    let plane = input + (ci &>> 4) &* planeIn + (ci & 15)
                    for ky in 0..<kh {
                        var p = plane + (iy0 &+ ky) &* rowIn + ix0 &* 16
                        for _ in 0..<kw {
                            let w = W.load(weightBase, t)
                            a0 = multiplyAdd(a0, SIMD16(repeating: p[0]), w)
                            a1 = multiplyAdd(a1, SIMD16(repeating: p[o.o1]), w)
                            a2 = multiplyAdd(a2, SIMD16(repeating: p[o.o2]), w)
                            a3 = multiplyAdd(a3, SIMD16(repeating: p[o.o3]), w)
                            a4 = multiplyAdd(a4, SIMD16(repeating: p[o.o4]), w)
                            a5 = multiplyAdd(a5, SIMD16(repeating: p[o.o5]), w)
                            a6 = multiplyAdd(a6, SIMD16(repeating: p[o.o6]), w)
                            a7 = multiplyAdd(a7, SIMD16(repeating: p[o.o7]), w)
                            p += 16
                            t &+= 1
                        }
                    }
                }
                if g.relu {
                    a0 = relu(a0); a1 = relu(a1); a2 = relu(a2); a3 = relu(a3)
                    a4 = relu(a4); a5 = relu(a5); a6 = relu(a6); a7 = relu(a7)
                }
                store8(UnsafeMutableRawPointer(outRow + ox &* 16), n, 64, a0, a1, a2, a3, a4, a5, a6, a7)
                ox &+= 8
            }
            oy &+= 1
        }
    }

    /// Output blocks `block` and `block + 1` together: 2 weight vectors and 8 broadcasts feed
    /// 16 FMAs per tap (the single-block tile does 8), for ISAs with 32 vector registers.
    @inline(__always)
    static func rowsPair<W: WeightLoad>(_: W.Type, _ input: UnsafePointer<Float>, _ weights: UnsafeRawPointer,
                                        _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                        _ g: ConvGeometry, _ block: Int, _ rowStart: Int, _ rowEnd: Int) {
        let taps = g.taps
        let kh = g.kernelH, kw = g.kernelW
        let planeIn = g.inHeight &* g.inWidth &* 16
        let rowIn = g.inWidth &* 16
        let step = g.strideW &* 16
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let base0 = weights + block &* taps &* vectorBytes
        let base1 = weights + (block &+ 1) &* taps &* vectorBytes
        let b0 = bias.map { vload(UnsafeRawPointer($0), block &* 64) } ?? .zero
        let b1 = bias.map { vload(UnsafeRawPointer($0), (block &+ 1) &* 64) } ?? .zero
        let outPlane = g.outBufferHeight &* g.outBufferWidth &* 16
        var oy = rowStart
        while oy < rowEnd {
            let rowOffset = ((oy &+ g.outBorder) &* g.outBufferWidth &+ g.outBorder) &* 16
            let outRow0 = output + block &* outPlane + rowOffset
            let outRow1 = output + (block &+ 1) &* outPlane + rowOffset
            let iy0 = oy &* g.strideH &+ g.originY
            var ox = 0
            while ox < g.outWidth {
                let n = min(8, g.outWidth &- ox)
                let offsets = Offsets8(pixels: n, step: step)
                var tile = PairTile(b0, b1)
                let ix0 = ox &* g.strideW &+ g.originX
                var t = 0
                for ci in 0..<g.inChannels {
                    let plane = input + (ci &>> 4) &* planeIn + (ci & 15)
                    for ky in 0..<kh {
                        var p = plane + (iy0 &+ ky) &* rowIn + ix0 &* 16
                        for _ in 0..<kw {
                            tile.step(p, offsets, W.load(base0, t), W.load(base1, t))
                            p += 16
                            t &+= 1
                        }
                    }
                }
                if g.relu { tile.applyReLU() }
                tile.store(first: UnsafeMutableRawPointer(outRow0 + ox &* 16), second: UnsafeMutableRawPointer(outRow1 + ox &* 16),
                           pixels: n, pixelBytes: 64)
                ox &+= 8
            }
            oy &+= 1
        }
    }

    @inline(__always)
    static func pixels<W: WeightLoad>(_: W.Type, _ input: UnsafePointer<Float>, _ weights: UnsafeRawPointer,
                                      _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                      _ g: ConvGeometry, _ offsets: UnsafePointer<Int>, _ block: Int,
                                      _ pixelStart: Int, _ pixelEnd: Int) {
        let taps = g.taps
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let weightBase = weights + block &* taps &* vectorBytes
        let biasVector = bias.map { vload(UnsafeRawPointer($0), block &* 64) } ?? .zero
        let outPlane = g.outBufferHeight &* g.outBufferWidth &* 16
        for pixel in pixelStart..<pixelEnd {
            let oy = pixel / g.outWidth, ox = pixel % g.outWidth
            let origin = input + ((oy &* g.strideH &+ g.originY) &* g.inWidth &+ ox &* g.strideW &+ g.originX) &* 16
            var a0 = biasVector, a1 = SIMD16<Float>.zero, a2 = SIMD16<Float>.zero, a3 = SIMD16<Float>.zero
            var t = 0
            while t &+ 4 <= taps {
                // The weight stream is read once (memory-bound): ask for it 4 KiB ahead.
                let ahead = weightBase + (t &+ 64) &* vectorBytes
                vggsupport_prefetch(ahead); vggsupport_prefetch(ahead + 64)
                vggsupport_prefetch(ahead + 128); vggsupport_prefetch(ahead + 192)
                a0 = multiplyAdd(a0, SIMD16(repeating: origin[offsets[t]]), W.load(weightBase, t))
                a1 = multiplyAdd(a1, SIMD16(repeating: origin[offsets[t &+ 1]]), W.load(weightBase, t &+ 1))
                a2 = multiplyAdd(a2, SIMD16(repeating: origin[offsets[t &+ 2]]), W.load(weightBase, t &+ 2))
                a3 = multiplyAdd(a3, SIMD16(repeating: origin[offsets[t &+ 3]]), W.load(weightBase, t &+ 3))
                t &+= 4
            }
            while t < taps {
                a0 = multiplyAdd(a0, SIMD16(repeating: origin[offsets[t]]), W.load(weightBase, t))
                t &+= 1
            }
            var a = (a0 + a1) + (a2 + a3)
            if g.relu { a = relu(a) }
            let out = output + block &* outPlane + ((oy &+ g.outBorder) &* g.outBufferWidth &+ ox &+ g.outBorder) &* 16
            UnsafeMutableRawPointer(out).storeBytes(of: a, as: SIMD16<Float>.self)
        }
    }
}
