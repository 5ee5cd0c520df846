// Direct convolution on blocked activations (`[C/16][H][W][16]`) with OBLOCK16 weights
// (`[O/16][I][KH][KW][16]`): one 16-wide weight vector per tap, broadcast inputs, FMAs.
// This one file is compiled into each per-ISA module (VGGKernelsBase/V3/V4 hold symlinks to
// it) with that module's -march flag. Keep it to pointers, SIMD types and concrete scalar
// conversions: a generic stdlib call specialised here (SIMD16<Float>(someSIMD16), say) is
// emitted as a weak symbol the linker may merge with another module's copy, and the baseline
// path would then run AVX-512 code. Tests/check_kernels.sh checks there are none.
import CVggSupport
import VGGFormat

protocol WeightLoad {
    /// The `index`-th 16-lane weight vector as floats.
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float>
}

enum F32Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        vload(base, index &* 64)  // tensors are 64-byte aligned (reader rule)
    }
}

enum F16Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let p = base + index &* 32
        var v = SIMD16<Float>()
        for i in 0..<16 { v[i] = Float(p.loadUnaligned(fromByteOffset: i &* 2, as: Float16.self)) }
        return v
    }
}

enum BF16Weights: WeightLoad {
    @inline(__always)
    static func load(_ base: UnsafeRawPointer, _ index: Int) -> SIMD16<Float> {
        let p = base + index &* 32
        var v = SIMD16<UInt32>()
        for i in 0..<16 { v[i] = UInt32(p.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) &<< 16 }
        return unsafeBitCast(v, to: SIMD16<Float>.self)
    }
}

/// A 64-byte-aligned vector load through a typed pointer (a transparent accessor): the generic
/// `load(fromByteOffset:as:)` can leave a weak specialised copy behind (see the header).
@inline(__always)
func vload(_ p: UnsafeRawPointer, _ byteOffset: Int) -> SIMD16<Float> {
    (p + byteOffset).assumingMemoryBound(to: SIMD16<Float>.self).pointee
}

@inline(__always)
func relu(_ v: SIMD16<Float>) -> SIMD16<Float> {
    vggsupport_relu16(v)
}

public enum Kernels {
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

    /// Output pixels of a whole batch, 8 at a time, of output blocks `block` and `block + 1`
    /// (`block` alone when it is the last), over taps tapStart..<tapEnd only: the fc layers
    /// past the last pooling, where every pixel reads every weight. Pixel j reads its window at
    /// input + pixelInput[j] (tap t at + offsets[t], as in convolutionPixels) and writes output +
    /// pixelOutput[j] + block · outPlane. The first tap chunk starts from the bias, later ones
    /// from the partial sums in the output, the last applies ReLU: a chunk of the pair's
    /// weights (128 bytes a tap) stays in L2 for every pixel tile, so the weights are read from
    /// memory once per batch instead of once per pixel row. `grouped`: f32 weights in OGROUP1024
    /// (a block's tap after tap 4 KiB apart; the caller keeps chunks short enough for L2's sets).
    /// With `tapList`, tapStart..<tapEnd index it: the taps with a non-zero input in some pixel,
    /// ascending (the others add nothing: same floats). `last`: the chunk ends the taps (ReLU).
    public static func convolutionGather(input: UnsafePointer<Float>, weights: UnsafeRawPointer, dtype: UInt32,
                                         bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                                         geometry g: ConvGeometry, offsets: UnsafePointer<Int>,
                                         pixelInput: UnsafePointer<Int>, pixelOutput: UnsafePointer<Int>, pixels: Int,
                                         outPlane: Int, block: Int, tapStart: Int, tapEnd: Int, grouped: Bool,
                                         tapList: UnsafePointer<UInt32>?, last: Bool) {
        switch dtype {
        case 2: gather(F16Weights.self, input, weights, bias, output, g, offsets, pixelInput, pixelOutput, pixels, outPlane,
                       block, tapStart, tapEnd, false, tapList, last)
        case 3: gather(BF16Weights.self, input, weights, bias, output, g, offsets, pixelInput, pixelOutput, pixels, outPlane,
                       block, tapStart, tapEnd, false, tapList, last)
        default: gather(F32Weights.self, input, weights, bias, output, g, offsets, pixelInput, pixelOutput, pixels, outPlane,
                        block, tapStart, tapEnd, grouped, tapList, last)
        }
    }

    /// One output pixel of output blocks `block` and `block + 1` (`block` alone when it is the
    /// last) from its non-zero taps only: tap taps[k] (ascending) has input value values[k].
    /// The sums are those of convolutionGather's lone pixel in the same order, minus the zero
    /// terms: the same floats (the converter refuses non-finite weights; a sum of zeros alone
    /// may differ in its sign). For inputs that ReLU left mostly zero, a zero tap's weights are
    /// never read.
    public static func convolutionSparsePixel(values: UnsafePointer<Float>, taps: UnsafePointer<UInt32>, count: Int,
                                              weights: UnsafeRawPointer, dtype: UInt32, bias: UnsafePointer<Float>?,
                                              output: UnsafeMutablePointer<Float>, geometry g: ConvGeometry,
                                              outPlane: Int, at: Int, block: Int) {
        switch dtype {
        case 2: sparsePixel(F16Weights.self, values, taps, count, weights, bias, output, g, outPlane, at, block)
        case 3: sparsePixel(BF16Weights.self, values, taps, count, weights, bias, output, g, outPlane, at, block)
        default: sparsePixel(F32Weights.self, values, taps, count, weights, bias, output, g, outPlane, at, block)
        }
    }

    @inline(__always)
    static func sparsePixel<W: WeightLoad>(_: W.Type, _ values: UnsafePointer<Float>, _ taps: UnsafePointer<UInt32>,
                                           _ count: Int, _ weights: UnsafeRawPointer, _ bias: UnsafePointer<Float>?,
                                           _ output: UnsafeMutablePointer<Float>, _ g: ConvGeometry, _ outPlane: Int,
                                           _ at: Int, _ block: Int) {
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let second = block &+ 1 < g.outBlocks ? block &+ 1 : block
        let base0 = weights + block &* g.taps &* vectorBytes
        let base1 = weights + second &* g.taps &* vectorBytes
        var a = bias.map { vload(UnsafeRawPointer($0), block &* 64) } ?? .zero
        var c = bias.map { vload(UnsafeRawPointer($0), second &* 64) } ?? .zero
        // The lines of the tap 32 non-zero inputs ahead are asked for: irregular reads the
        // hardware prefetchers follow less well (fc7 at 35% non-zero inputs, 1 thread: 8% faster).
        let ahead = 32
        for k in 0..<count {
            let t = Int(taps[k])
            if k &+ ahead < count {
                let u = Int(taps[k &+ ahead]) &* vectorBytes
                vggsupport_prefetch(base0 + u); vggsupport_prefetch(base1 + u)
            }
            let x = SIMD16<Float>(repeating: values[k])
            a = multiplyAdd(a, x, W.load(base0, t))
            c = multiplyAdd(c, x, W.load(base1, t))
        }
        if g.relu { a = relu(a); c = relu(c) }
        UnsafeMutableRawPointer(output + block &* outPlane + at).storeBytes(of: a, as: SIMD16<Float>.self)
        if second != block { UnsafeMutableRawPointer(output + second &* outPlane + at).storeBytes(of: c, as: SIMD16<Float>.self) }
    }

    /// Where output blocks `block` and `second` of f32 OGROUP1024 weights start, and the vectors
    /// from one tap to the next (the group's width / 16).
    @inline(__always)
    static func groupedBases(_ weights: UnsafeRawPointer, _ g: ConvGeometry, _ block: Int,
                             _ second: Int) -> (UnsafeRawPointer, UnsafeRawPointer, Int) {
        let groupBlocks = VGGFile.outputGroup / 16
        let group = block / groupBlocks
        let width = outputGroupWidth(outChannels: g.outBlocks &* 16, group: group)
        let start = weights + group &* VGGFile.outputGroup &* g.taps &* 4
        return (start + (block &- group &* groupBlocks) &* 64, start + (second &- group &* groupBlocks) &* 64, width / 16)
    }

    /// One output pixel, output blocks firstBlock ..< firstBlock + blocks of f32 OGROUP1024
    /// weights (all in one group), from its non-zero inputs: tap taps[k] (ascending) has value
    /// values[k]. Each tap's weights for the blocks are one run (a page for a whole group), so
    /// a zero input's are never read. Eight taps per pass over the sums (`sums`: room for
    /// `blocks` vectors, L1), each lane summed tap after tap from its bias: the same floats as
    /// convolutionGather (the converter refuses non-finite weights; a sum of zeros alone may
    /// differ in its sign). Stores with ReLU when the geometry asks, block b at output +
    /// b · outPlane + at.
    public static func convolutionGroupedPixel(values: UnsafePointer<Float>, taps: UnsafePointer<UInt32>, count: Int,
                                               weights: UnsafeRawPointer, bias: UnsafePointer<Float>?,
                                               output: UnsafeMutablePointer<Float>, geometry g: ConvGeometry, outPlane: Int,
                                               at: Int, firstBlock: Int, blocks: Int, sums: UnsafeMutablePointer<Float>) {
        let (base, _, tapVectors) = groupedBases(weights, g, firstBlock, firstBlock)
        let rowBytes = tapVectors &* 64, runBytes = blocks &* 64
        let s = UnsafeMutableRawPointer(sums)
        for j in 0..<blocks {
            let b = bias.map { vload(UnsafeRawPointer($0), (firstBlock &+ j) &* 64) } ?? .zero
            s.storeBytes(of: b, toByteOffset: j &* 64, as: SIMD16<Float>.self)
        }
        // Runs 16 non-zero taps ahead are asked for, to L2, a line every 512 bytes (the
        // hardware prefetcher follows each run from there). VGG16 224, medians of 6 interleaved
        // runs on 1 thread: fc6 10.3 → 9.5 ms, fc7 1.50 → 1.35 against the same into L1; every
        // line 13–14 ms, none at all 11–11.7.
        @inline(__always) func fetch(_ k: Int) {
            guard k < count else { return }
            let run = base + Int(taps[k]) &* rowBytes
            var offset = 0
            while offset < runBytes { vggsupport_prefetch_l2(run + offset); offset &+= 512 }
        }
        var k = 0
        while k &+ 8 <= count {
            for q in 16..<24 { fetch(k &+ q) }
            let r0 = base + Int(taps[k]) &* rowBytes, r1 = base + Int(taps[k &+ 1]) &* rowBytes
            let r2 = base + Int(taps[k &+ 2]) &* rowBytes, r3 = base + Int(taps[k &+ 3]) &* rowBytes
            let r4 = base + Int(taps[k &+ 4]) &* rowBytes, r5 = base + Int(taps[k &+ 5]) &* rowBytes
            let r6 = base + Int(taps[k &+ 6]) &* rowBytes, r7 = base + Int(taps[k &+ 7]) &* rowBytes
            let x0 = SIMD16<Float>(repeating: values[k]), x1 = SIMD16<Float>(repeating: values[k &+ 1])
            let x2 = SIMD16<Float>(repeating: values[k &+ 2]), x3 = SIMD16<Float>(repeating: values[k &+ 3])
            let x4 = SIMD16<Float>(repeating: values[k &+ 4]), x5 = SIMD16<Float>(repeating: values[k &+ 5])
            let x6 = SIMD16<Float>(repeating: values[k &+ 6]), x7 = SIMD16<Float>(repeating: values[k &+ 7])
            var offset = 0
            while offset < runBytes {
                var a = vload(UnsafeRawPointer(s), offset)
                a = multiplyAdd(a, x0, vload(r0, offset))
                a = multiplyAdd(a, x1, vload(r1, offset))
                a = multiplyAdd(a, x2, vload(r2, offset))
                a = multiplyAdd(a, x3, vload(r3, offset))
                a = multiplyAdd(a, x4, vload(r4, offset))
                a = multiplyAdd(a, x5, vload(r5, offset))
                a = multiplyAdd(a, x6, vload(r6, offset))
                a = multiplyAdd(a, x7, vload(r7, offset))
                s.storeBytes(of: a, toByteOffset: offset, as: SIMD16<Float>.self)
                offset &+= 64
            }
            k &+= 8
        }
        while k < count {
            let r = base + Int(taps[k]) &* rowBytes, x = SIMD16<Float>(repeating: values[k])
            var offset = 0
            while offset < runBytes {
                s.storeBytes(of: multiplyAdd(vload(UnsafeRawPointer(s), offset), x, vload(r, offset)), toByteOffset: offset,
                             as: SIMD16<Float>.self)
                offset &+= 64
            }
            k &+= 1
        }
        for j in 0..<blocks {
            var a = vload(UnsafeRawPointer(s), j &* 64)
            if g.relu { a = relu(a) }
            UnsafeMutableRawPointer(output + (firstBlock &+ j) &* outPlane + at).storeBytes(of: a, as: SIMD16<Float>.self)
        }
    }

    @inline(__always)
    static func gather<W: WeightLoad>(_: W.Type, _ input: UnsafePointer<Float>, _ weights: UnsafeRawPointer,
                                      _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                      _ g: ConvGeometry, _ offsets: UnsafePointer<Int>, _ pixelInput: UnsafePointer<Int>,
                                      _ pixelOutput: UnsafePointer<Int>, _ pixels: Int, _ outPlane: Int, _ block: Int,
                                      _ tapStart: Int, _ tapEnd: Int, _ grouped: Bool, _ tapList: UnsafePointer<UInt32>?,
                                      _ last: Bool) {
        let taps = g.taps
        let vectorBytes = W.self == F32Weights.self ? 64 : 32
        let second = block &+ 1 < g.outBlocks ? block &+ 1 : block
        // Vectors from one tap's weight vector to the next: 1 in OBLOCK16, the group's width / 16
        // in OGROUP1024 (a pair's two blocks always lie in the same group: 1024 = 32 · 32).
        let (base0, base1, tapVectors) = grouped ? groupedBases(weights, g, block, second) :
            (weights + block &* taps &* vectorBytes, weights + second &* taps &* vectorBytes, 1)
        let tapBytes = tapVectors &* vectorBytes
        let b0 = bias.map { vload(UnsafeRawPointer($0), block &* 64) } ?? .zero
        let b1 = bias.map { vload(UnsafeRawPointer($0), second &* 64) } ?? .zero
        let out0 = UnsafeMutableRawPointer(output + block &* outPlane)
        let out1 = UnsafeMutableRawPointer(output + second &* outPlane)
        var j0 = 0
        if pixels == 1 && tapList == nil {
            // A lone pixel (batch 1 at the classifier's own size): one accumulator per block, the
            // same summation order as in a full tile; the full tile would waste 7/8 of its FMAs.
            let at0 = pixelOutput[0] &* 4
            var a = tapStart == 0 ? b0 : vload(UnsafeRawPointer(out0), at0)
            var c = tapStart == 0 ? b1 : vload(UnsafeRawPointer(out1), at0)
            let origin = input + pixelInput[0]
            for t in tapStart..<tapEnd {
                let x = SIMD16<Float>(repeating: origin[offsets[t]])
                a = multiplyAdd(a, x, W.load(base0, t &* tapVectors))
                c = multiplyAdd(c, x, W.load(base1, t &* tapVectors))
            }
            if last && g.relu { a = relu(a); c = relu(c) }
            (out0 + at0).assumingMemoryBound(to: SIMD16<Float>.self).pointee = a
            if second != block { (out1 + at0).assumingMemoryBound(to: SIMD16<Float>.self).pointee = c }
            return
        }
        // The next chunk's weights (the taps after tapEnd, as many as this chunk's) to L2, a few
        // lines per 16 taps spread over all pixel tiles: otherwise the first tile of every chunk
        // waits on DRAM while the others compute (fc6 at 384×384: 36 pixels in 5 tiles).
        let chunkTaps = tapEnd &- tapStart, nextTaps = tapList == nil ? min(chunkTaps, taps &- tapEnd) : 0
        let ahead = tapVectors == 1
            ? WeightsAhead(first: base0 + tapEnd &* vectorBytes, second: base1 + tapEnd &* vectorBytes, bytes: nextTaps &* vectorBytes)
            : WeightsAhead(first: base0 + tapEnd &* tapBytes, second: base1 + tapEnd &* tapBytes, lines: nextTaps, step: tapBytes)
        let steps = (pixels &+ 7) / 8 &* ((chunkTaps &+ 15) &>> 4)
        var step = 0
        // Tiles of 8 pixels; a tail of ≤ 4 (fc6 at 384×384: 36 = 4 × 8 + 4) in a half tile,
        // which a full one would compute twice over (same sums per pixel either way).
        @inline(__always) func run<T: PixelTile>(_: T.Type, _ j0: Int, _ n: Int) {
            let o = Offsets8(gathering: pixelInput + j0, pixels: n)
            let at = pixelOutput + j0
            var tile = tapStart == 0 ? T(b0, b1) : T(gathering: UnsafeRawPointer(out0), UnsafeRawPointer(out1), at, n)
            let origin = input + pixelInput[j0]
            var t0 = tapStart
            while t0 < tapEnd {
                ahead.fetch(slice: step, of: steps)
                step &+= 1
                for t in t0..<min(tapEnd, t0 &+ 16) {
                    tile.step(origin + offsets[t], o, W.load(base0, t &* tapVectors), W.load(base1, t &* tapVectors))
                }
                t0 &+= 16
            }
            if last && g.relu { tile.applyReLU() }
            tile.scatter(out0, second == block ? nil : out1, at, n)
        }
        // The same over the listed taps (a separate loop: sharing one, generic over the tap
        // source, made the dense tiles 15% slower at 384).
        @inline(__always) func runListed<T: PixelTile>(_: T.Type, _ list: UnsafePointer<UInt32>, _ j0: Int, _ n: Int) {
            let o = Offsets8(gathering: pixelInput + j0, pixels: n)
            let at = pixelOutput + j0
            var tile = tapStart == 0 ? T(b0, b1) : T(gathering: UnsafeRawPointer(out0), UnsafeRawPointer(out1), at, n)
            let origin = input + pixelInput[j0]
            for k in tapStart..<tapEnd {
                // Irregular taps: their lines 32 list entries ahead are asked for, into L2.
                if k &+ 32 < tapEnd {
                    let u = Int(list[k &+ 32]) &* tapBytes
                    vggsupport_prefetch_l2(base0 + u); vggsupport_prefetch_l2(base1 + u)
                }
                let t = Int(list[k])
                tile.step(origin + offsets[t], o, W.load(base0, t &* tapVectors), W.load(base1, t &* tapVectors))
            }
            if last && g.relu { tile.applyReLU() }
            tile.scatter(out0, second == block ? nil : out1, at, n)
        }
        while j0 < pixels {
            let n = min(8, pixels &- j0)
            if let list = tapList {
                if n <= 4 { runListed(QuadTile.self, list, j0, n) } else { runListed(PairTile.self, list, j0, n) }
            } else {
                if n <= 4 { run(QuadTile.self, j0, n) } else { run(PairTile.self, j0, n) }
            }
            j0 &+= 8
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

    /// Stores the first `n` of 8 consecutive pixel vectors.
    @inline(__always)
    static func store8(_ out: UnsafeMutableRawPointer, _ n: Int, _ s: Int, _ a0: SIMD16<Float>, _ a1: SIMD16<Float>,
                       _ a2: SIMD16<Float>, _ a3: SIMD16<Float>, _ a4: SIMD16<Float>, _ a5: SIMD16<Float>,
                       _ a6: SIMD16<Float>, _ a7: SIMD16<Float>) {
        out.storeBytes(of: a0, as: SIMD16<Float>.self)
        if n > 1 { out.storeBytes(of: a1, toByteOffset: s, as: SIMD16<Float>.self) }
        if n > 2 { out.storeBytes(of: a2, toByteOffset: 2 &* s, as: SIMD16<Float>.self) }
        if n > 3 { out.storeBytes(of: a3, toByteOffset: 3 &* s, as: SIMD16<Float>.self) }
        if n > 4 { out.storeBytes(of: a4, toByteOffset: 4 &* s, as: SIMD16<Float>.self) }
        if n > 5 { out.storeBytes(of: a5, toByteOffset: 5 &* s, as: SIMD16<Float>.self) }
        if n > 6 { out.storeBytes(of: a6, toByteOffset: 6 &* s, as: SIMD16<Float>.self) }
        if n > 7 { out.storeBytes(of: a7, toByteOffset: 7 &* s, as: SIMD16<Float>.self) }
    }

    /// Stores the first `n` of 8 pixel vectors, pixel k at p + at[k] floats.
    @inline(__always)
    static func scatter8(_ p: UnsafeMutableRawPointer, _ at: UnsafePointer<Int>, _ n: Int, _ a0: SIMD16<Float>,
                         _ a1: SIMD16<Float>, _ a2: SIMD16<Float>, _ a3: SIMD16<Float>, _ a4: SIMD16<Float>,
                         _ a5: SIMD16<Float>, _ a6: SIMD16<Float>, _ a7: SIMD16<Float>) {
        @inline(__always) func put(_ k: Int, _ v: SIMD16<Float>) {
            (p + at[k] &* 4).assumingMemoryBound(to: SIMD16<Float>.self).pointee = v
        }
        put(0, a0)
        if n > 1 { put(1, a1) }
        if n > 2 { put(2, a2) }
        if n > 3 { put(3, a3) }
        if n > 4 { put(4, a4) }
        if n > 5 { put(5, a5) }
        if n > 6 { put(6, a6) }
        if n > 7 { put(7, a7) }
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

/// Where the 8 pixels of a tile read their input: pixel k at `o_k` floats (clamped to the last
/// real pixel, whose value is then computed again but not stored).
struct Offsets8 {
    let o1: Int, o2: Int, o3: Int, o4: Int, o5: Int, o6: Int, o7: Int

    /// Pixel k at p[k] − p[0] floats (clamped to the last of `n`).
    @inline(__always)
    init(gathering p: UnsafePointer<Int>, pixels n: Int) {
        let p0 = p[0], last = n &- 1
        o1 = p[min(1, last)] &- p0; o2 = p[min(2, last)] &- p0; o3 = p[min(3, last)] &- p0
        o4 = p[min(4, last)] &- p0; o5 = p[min(5, last)] &- p0; o6 = p[min(6, last)] &- p0
        o7 = p[min(7, last)] &- p0
    }

    @inline(__always)
    init(pixels n: Int, step: Int) {
        o1 = min(1, n &- 1) &* step; o2 = min(2, n &- 1) &* step; o3 = min(3, n &- 1) &* step
        o4 = min(4, n &- 1) &* step; o5 = min(5, n &- 1) &* step; o6 = min(6, n &- 1) &* step
        o7 = min(7, n &- 1) &* step
    }
}

/// What the fc layers' gather kernel needs of a tile of pixels × 2 output blocks.
protocol PixelTile {
    /// Every pixel of the first block starts at `first`, of the second at `second` (the biases).
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>)
    /// Pixel k of each block from first/second + at[k] floats (k < n; the rest zero).
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int)
    /// Adds p[o_k] · w to the first block's pixel k and p[o_k] · v to the second's.
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>)
    mutating func applyReLU()
    /// Stores pixel k (k < n) of the first block at first + at[k] floats, of the second (unless nil) at second + at[k].
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int)
}

/// 4 pixels × 2 output blocks: half a PairTile, the same sums in the same order per pixel.
struct QuadTile: PixelTile {
    var a0: SIMD16<Float>, a1: SIMD16<Float>, a2: SIMD16<Float>, a3: SIMD16<Float>
    var c0: SIMD16<Float>, c1: SIMD16<Float>, c2: SIMD16<Float>, c3: SIMD16<Float>

    @inline(__always)
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>) {
        a0 = first; a1 = first; a2 = first; a3 = first
        c0 = second; c1 = second; c2 = second; c3 = second
    }

    @inline(__always)
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int) {
        self.init(.zero, .zero)
        @inline(__always) func f(_ k: Int) -> SIMD16<Float> { vload(first, at[k] &* 4) }
        @inline(__always) func s(_ k: Int) -> SIMD16<Float> { vload(second, at[k] &* 4) }
        a0 = f(0); c0 = s(0)
        if n > 1 { a1 = f(1); c1 = s(1) }
        if n > 2 { a2 = f(2); c2 = s(2) }
        if n > 3 { a3 = f(3); c3 = s(3) }
    }

    @inline(__always)
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>) {
        var x = SIMD16<Float>(repeating: p[0])
        a0 = multiplyAdd(a0, x, w); c0 = multiplyAdd(c0, x, v)
        x = SIMD16(repeating: p[o.o1]); a1 = multiplyAdd(a1, x, w); c1 = multiplyAdd(c1, x, v)
        x = SIMD16(repeating: p[o.o2]); a2 = multiplyAdd(a2, x, w); c2 = multiplyAdd(c2, x, v)
        x = SIMD16(repeating: p[o.o3]); a3 = multiplyAdd(a3, x, w); c3 = multiplyAdd(c3, x, v)
    }

    @inline(__always)
    mutating func applyReLU() {
        a0 = relu(a0); a1 = relu(a1); a2 = relu(a2); a3 = relu(a3)
        c0 = relu(c0); c1 = relu(c1); c2 = relu(c2); c3 = relu(c3)
    }

    @inline(__always)
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int) {
        Kernels.scatter8(first, at, min(n, 4), a0, a1, a2, a3, a3, a3, a3, a3)
        if let second { Kernels.scatter8(second, at, min(n, 4), c0, c1, c2, c3, c3, c3, c3, c3) }
    }
}

/// 8 pixels × 2 output blocks of accumulators: the paired-block microkernel of direct
/// convolution and of the Winograd products (16 vector registers; each step is 2 weight
/// vectors and 8 broadcasts for 16 FMAs).
struct PairTile: PixelTile {
    var a0: SIMD16<Float>, a1: SIMD16<Float>, a2: SIMD16<Float>, a3: SIMD16<Float>
    var a4: SIMD16<Float>, a5: SIMD16<Float>, a6: SIMD16<Float>, a7: SIMD16<Float>
    var c0: SIMD16<Float>, c1: SIMD16<Float>, c2: SIMD16<Float>, c3: SIMD16<Float>
    var c4: SIMD16<Float>, c5: SIMD16<Float>, c6: SIMD16<Float>, c7: SIMD16<Float>

    @inline(__always)
    init(_ first: SIMD16<Float>, _ second: SIMD16<Float>) {
        a0 = first; a1 = first; a2 = first; a3 = first; a4 = first; a5 = first; a6 = first; a7 = first
        c0 = second; c1 = second; c2 = second; c3 = second; c4 = second; c5 = second; c6 = second; c7 = second
    }

    /// The first `pixels` accumulators of each block from memory (pixel k at k · pixelBytes), the rest zero.
    @inline(__always)
    init(loading first: UnsafeRawPointer, second: UnsafeRawPointer, pixels n: Int, pixelBytes s: Int) {
        self.init(.zero, .zero)
        a0 = vload(first, 0); c0 = vload(second, 0)
        if n > 1 { a1 = vload(first, s); c1 = vload(second, s) }
        if n > 2 { a2 = vload(first, 2 &* s); c2 = vload(second, 2 &* s) }
        if n > 3 { a3 = vload(first, 3 &* s); c3 = vload(second, 3 &* s) }
        if n > 4 { a4 = vload(first, 4 &* s); c4 = vload(second, 4 &* s) }
        if n > 5 { a5 = vload(first, 5 &* s); c5 = vload(second, 5 &* s) }
        if n > 6 { a6 = vload(first, 6 &* s); c6 = vload(second, 6 &* s) }
        if n > 7 { a7 = vload(first, 7 &* s); c7 = vload(second, 7 &* s) }
    }

    /// Pixel k of each block from first/second + at[k] floats (k < n; the rest zero).
    @inline(__always)
    init(gathering first: UnsafeRawPointer, _ second: UnsafeRawPointer, _ at: UnsafePointer<Int>, _ n: Int) {
        self.init(.zero, .zero)
        @inline(__always) func f(_ k: Int) -> SIMD16<Float> { vload(first, at[k] &* 4) }
        @inline(__always) func s(_ k: Int) -> SIMD16<Float> { vload(second, at[k] &* 4) }
        a0 = f(0); c0 = s(0)
        if n > 1 { a1 = f(1); c1 = s(1) }
        if n > 2 { a2 = f(2); c2 = s(2) }
        if n > 3 { a3 = f(3); c3 = s(3) }
        if n > 4 { a4 = f(4); c4 = s(4) }
        if n > 5 { a5 = f(5); c5 = s(5) }
        if n > 6 { a6 = f(6); c6 = s(6) }
        if n > 7 { a7 = f(7); c7 = s(7) }
    }

    /// Stores pixel k (k < n) of the first block at first + at[k] floats, of the second (unless nil) at second + at[k].
    @inline(__always)
    func scatter(_ first: UnsafeMutableRawPointer, _ second: UnsafeMutableRawPointer?, _ at: UnsafePointer<Int>, _ n: Int) {
        Kernels.scatter8(first, at, n, a0, a1, a2, a3, a4, a5, a6, a7)
        if let second { Kernels.scatter8(second, at, n, c0, c1, c2, c3, c4, c5, c6, c7) }
    }

    /// Adds p[o_k] · w to the first block's pixel k and p[o_k] · v to the second's.
    @inline(__always)
    mutating func step(_ p: UnsafePointer<Float>, _ o: Offsets8, _ w: SIMD16<Float>, _ v: SIMD16<Float>) {
        var x = SIMD16<Float>(repeating: p[0])
        a0 = multiplyAdd(a0, x, w); c0 = multiplyAdd(c0, x, v)
        x = SIMD16(repeating: p[o.o1]); a1 = multiplyAdd(a1, x, w); c1 = multiplyAdd(c1, x, v)
        x = SIMD16(repeating: p[o.o2]); a2 = multiplyAdd(a2, x, w); c2 = multiplyAdd(c2, x, v)
        x = SIMD16(repeating: p[o.o3]); a3 = multiplyAdd(a3, x, w); c3 = multiplyAdd(c3, x, v)
        x = SIMD16(repeating: p[o.o4]); a4 = multiplyAdd(a4, x, w); c4 = multiplyAdd(c4, x, v)
        x = SIMD16(repeating: p[o.o5]); a5 = multiplyAdd(a5, x, w); c5 = multiplyAdd(c5, x, v)
        x = SIMD16(repeating: p[o.o6]); a6 = multiplyAdd(a6, x, w); c6 = multiplyAdd(c6, x, v)
        x = SIMD16(repeating: p[o.o7]); a7 = multiplyAdd(a7, x, w); c7 = multiplyAdd(c7, x, v)
    }

    @inline(__always)
    mutating func applyReLU() {
        a0 = relu(a0); a1 = relu(a1); a2 = relu(a2); a3 = relu(a3); a4 = relu(a4); a5 = relu(a5); a6 = relu(a6); a7 = relu(a7)
        c0 = relu(c0); c1 = relu(c1); c2 = relu(c2); c3 = relu(c3); c4 = relu(c4); c5 = relu(c5); c6 = relu(c6); c7 = relu(c7)
    }

    /// Stores the first `pixels` results of each block, pixel k at k · pixelBytes.
    @inline(__always)
    func store(first: UnsafeMutableRawPointer, second: UnsafeMutableRawPointer, pixels n: Int, pixelBytes s: Int) {
        Kernels.store8(first, n, s, a0, a1, a2, a3, a4, a5, a6, a7)
        Kernels.store8(second, n, s, c0, c1, c2, c3, c4, c5, c6, c7)
    }
}
