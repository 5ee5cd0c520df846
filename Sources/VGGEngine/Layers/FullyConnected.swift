// The fully connected layers (fc6 as a 7×7 convolution, fc7 and fc8 as 1×1) on the whole batch
// at once: the gather tiles over every pixel of the batch, in task shapes that suit each layout.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// Taps of a block pair's weights per gather call: 2048 × 128 bytes = 256 KiB stays in L2
    /// while every pixel tile of the batch reads it.
    static let gatherTapChunk = 2048

    /// Percent of a lone fc pixel's inputs that may be non-zero for runSparsePixel. Skipping a
    /// zero input's weights saves reading them only where the hardware prefetchers do not fetch
    /// them anyway. VGG16 at 224 (medians of 8–10 interleaved runs; conv5_3, fc6 and fc7
    /// outputs partly switched off by their biases, leaving 16%, 35% and 40% of fc6's, fc7's
    /// and fc8's inputs non-zero, close to what EIE (Han et al., 2016) reports for trained
    /// VGG16): on 2 threads fc6 12.7 → 3.4 ms, fc7 2.1 → 1.5, fc8 0.55 → 0.46; on 1 thread fc6
    /// 15.7 → 5.9 ms but fc7 and fc8 4–20% slower. With random weights (~58%, 50%, 50%
    /// non-zero) no faster than dense: fc7 at 50% on 2 threads 5% slower.
    static func sparsePixelPercent(threads: Int) -> Int { threads > 1 ? 40 : 25 }

    /// Taps per gather call on OGROUP1024 weights (see runBatched).
    static let groupedTapChunk = 64

    /// Percent of the taps a few pixels of OGROUP1024 weights may have non-zero inputs at for
    /// the gather tiles to take only those (nonZeroInputs). VGG16 224, batch 2, medians
    /// of 4 interleaved runs: trained-like sparsity (17%, 36%, 41% of fc6's, fc7's, fc8's taps
    /// non-zero in either image) fc6 14.7 → 4.8 ms, fc7 2.3 → 1.7 on 2 threads, fc6 23.3 → 8.1
    /// on 1; at the random weights' 51–60% the listed taps ran 15–30% slower than all of them.
    static let unionPercent = 40

    /// A convolution on n images at once (`src`/`dst` hold n blocked images, `imageFloats`
    /// apart): every output pixel of the batch in 8-pixel tiles, each block pair's weights read
    /// once. Every pixel sums its taps in the same order whatever the batch, so an image's
    /// result does not depend on the batch it came in (bit for bit). A lone pixel wastes 7/8
    /// of the tile's FMAs, still less time than reading the weights (measured).
    func runBatched(_ l: Layer, n: Int, from src: UnsafeMutablePointer<Float>, imageFloats inFloats: Int,
                    shape inShape: ActivationShape, border inBorder: Int, to dst: UnsafeMutablePointer<Float>,
                    imageFloats outFloats: Int, shape outShape: ActivationShape, border outBorder: Int) throws {
        let perImage = outShape.height * outShape.width
        guard let weight = l.weight else { throw VGGError(.internal, "layer '\(l.name)' has no weight tensor") }
        let g = Session.convGeometry(l, inShape: inShape, inBorder: inBorder, outShape: outShape, outBorder: outBorder)
        buildOffsets(g)
        pixelInputTable.removeAll(keepingCapacity: true)
        pixelOutputTable.removeAll(keepingCapacity: true)
        for image in 0..<n {
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    pixelInputTable.append(image * inFloats + ((oy * g.strideH + g.originY) * g.inWidth + ox * g.strideW + g.originX) * 16)
                    pixelOutputTable.append(image * outFloats + ((oy + g.outBorder) * g.outBufferWidth + ox + g.outBorder) * 16)
                }
            }
        }
        let gather = kernels.gather, weights = weight.data, dtype = weight.dtype.rawValue
        let bias = l.bias.map { $0.data.assumingMemoryBound(to: Float.self) }
        let input = UnsafePointer(src), pixels = n * perImage, taps = g.taps
        let outPlane = g.outBufferHeight * g.outBufferWidth * 16, chunk = Session.gatherTapChunk
        let amx = useAMXFC(weight, taps: taps, perImage: perImage)
        if useBF16(weight) || amx {
            try runBatchedBF16(g, pixels: pixels, input: input, weights: weights, bias: bias, output: dst, outPlane: outPlane,
                               amx: amx)
            return
        }
        let grouped = weight.layout == .oGroup1024
        if grouped && pixels == 1 {
            try runGroupedPixel(g, input: input, weights: weights, bias: bias, output: dst, outPlane: outPlane)
            return
        }
        if try !grouped && pixels == 1 && runSparsePixel(g, input: input, weights: weights, dtype: dtype, bias: bias, output: dst,
                                                     outPlane: outPlane) {
            return
        }
        // OGROUP1024 weights: a block's taps lie 4 KiB apart, and such lines share few of L2's
        // sets (32 of 2048): chunks short enough to stay there.
        let tapChunk = grouped ? Session.groupedTapChunk : chunk
        // A few pixels of OGROUP1024 weights (a small batch at the classifier's size): only the
        // taps some pixel's input is non-zero at, when that skips enough pages (and some are
        // listed: with none, the dense loop still writes the biases).
        let limit = taps * Session.unionPercent / 100
        var union = grouped && pixels <= 8 ? try nonZeroInputs(g, input: input, pixels: pixels, limit: limit) : nil
        if union?.count == 0 { union = nil }
        let listed = union?.count ?? taps
        offsetTable.withUnsafeBufferPointer { offsets in
            pixelInputTable.withUnsafeBufferPointer { ins in
                pixelOutputTable.withUnsafeBufferPointer { outs in
                    guard let o = offsets.baseAddress, let pi = ins.baseAddress, let po = outs.baseAddress else { return }
                    // OGROUP1024: a tap's weights for a group are one page, a block pair's 128
                    // bytes of it. A task takes a chunk of taps through all block pairs of its
                    // share of a group before the next chunk, so each page is read whole while it
                    // is in L2 (and the TLB), not two lines of it per pair. VGG16 384, fc6 on 1
                    // thread 81.6 → 73.7 ms (as fast as OBLOCK16 again), 2 threads 42.2 → 37.7
                    // (minima of 6–8 interleaved runs); batch 8 at 224 fc6 19.1 → 15.5 ms. Same
                    // sums in the same order. OBLOCK16 weights, and listed taps (a small sparse
                    // batch; this way round their fc7 ran 8% slower), take a pair per task.
                    let pairCount = (g.outBlocks + 1) / 2, groupPairs = VGGFile.outputGroup / 32
                    let byGroup = grouped && union == nil
                    let groups = (pairCount + groupPairs - 1) / groupPairs
                    let parts = max(1, min((pool.threadCount + groups - 1) / groups, groupPairs))
                    pool.parallelFor(byGroup ? groups * parts : pairCount) { task in
                        let share = byGroup ? Session.groupPart(task, parts: parts, perGroup: groupPairs, count: pairCount) : task..<task + 1
                        var t = 0
                        while t < listed {
                            let end = min(listed, t + tapChunk)
                            for pair in share {
                                gather(input, weights, dtype, bias, dst, g, o, pi, po, pixels, outPlane, pair * 2, t, end, grouped,
                                       union?.taps, end == listed)
                            }
                            t = end
                        }
                    }
                }
            }
        }
    }

    /// Task `task`'s share of `count` units (blocks or block pairs) that come in groups of
    /// `perGroup`, each group cut into `parts` (tasks: groups × parts).
    static func groupPart(_ task: Int, parts: Int, perGroup: Int, count: Int) -> Range<Int> {
        let first = task / parts * perGroup, inGroup = min(perGroup, count - first), part = task % parts
        return (first + part * inGroup / parts)..<(first + (part + 1) * inGroup / parts)
    }
}
