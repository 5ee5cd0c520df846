// The fully connected layers (fc6 as a 7×7 convolution, fc7 and fc8 as 1×1) on every pixel of
// a batch: gather tiles of 8 pixels × 2 output blocks over chunks of taps, and a lone pixel
// from its non-zero inputs only (OBLOCK16 weights, or OGROUP1024 pages).
// Shared by the per-ISA modules (VGGKernelsBase/V3/V4 hold symlinks to this file and build it
// with their -march); the rules of WeightLoading.swift for generic code apply.
import CVggSupport
import VGGFormat

extension Kernels {
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
}
