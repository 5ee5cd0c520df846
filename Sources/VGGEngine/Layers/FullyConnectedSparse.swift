// fc layers that read only the weights of non-zero inputs (ReLU leaves many zero): a lone
// pixel's list of non-zero taps, its OGROUP1024 page sums, and the lists small batches share.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// A lone pixel (batch 1 at the classifier's own size) from its non-zero inputs only, when
    /// at most sparsePixelPercent of them are non-zero; false (nothing done) otherwise.
    /// ReLU leaves many inputs of the fc layers zero, and a zero input's weights need not be
    /// read: the same sums in the same order without the zero terms, so the same floats as the
    /// gather kernel wherever the weights are finite (a batch of one still matches any batch).
    func runSparsePixel(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafeRawPointer, dtype: UInt32,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outPlane: Int) throws -> Bool {
        let limit = g.taps * Session.sparsePixelPercent(threads: pool.threadCount) / 100
        guard let at = pixelOutputTable.first, let (taps, values, count) = try nonZeroInputs(g, input: input, pixels: 1, limit: limit) else {
            return false
        }
        let kernel = kernels.sparsePixel
        pool.parallelFor((g.outBlocks + 1) / 2) { pair in
            kernel(values, taps, count, weights, dtype, bias, output, g, outPlane, at, pair * 2)
        }
        return true
    }

    /// A lone pixel of f32 OGROUP1024 weights (version-2 files' fc layers) from its non-zero
    /// inputs, whatever their share: a tap's weights for a group are a page, skipped whole when
    /// its input is zero. Tasks are groups, or parts of a group's blocks when there are fewer
    /// groups than two per worker (fc8); every lane sums its taps in order whatever the split.
    func runGroupedPixel(_ g: ConvGeometry, input: UnsafePointer<Float>, weights: UnsafeRawPointer,
                         bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outPlane: Int) throws {
        guard let at = pixelOutputTable.first, let (taps, values, count) = try nonZeroInputs(g, input: input, pixels: 1, limit: g.taps) else {
            throw VGGError(.internal, "fc layer with \(g.taps) taps: no list of its non-zero inputs")
        }
        let threads = pool.threadCount, groupBlocks = VGGFile.outputGroup / 16
        let groups = (g.outBlocks + groupBlocks - 1) / groupBlocks
        // Parts of ≥ 16 blocks, in whole rounds of the workers (fc8's 63 blocks on 2 threads:
        // 2 parts, not 3 in two rounds: f32 fc8 0.47 → 0.36 ms).
        var parts = min((2 * threads + groups - 1) / groups, max(1, min(groupBlocks, g.outBlocks) / 16))
        if parts > threads { parts -= parts % threads }
        parts = max(1, parts)
        let sums = try groupSums.claim(threads * VGGFile.outputGroup, for: "group sums")
        let kernel = kernels.groupedPixel
        pool.parallelFor(groups * parts) { task, worker in
            let share = Session.groupPart(task, parts: parts, perGroup: groupBlocks, count: g.outBlocks)
            guard !share.isEmpty else { return }
            kernel(values, taps, count, weights, bias, output, g, outPlane, at, share.lowerBound, share.count,
                   sums + worker * VGGFile.outputGroup)
        }
    }

    /// The taps at which some of the first `pixels` pixels' inputs are non-zero, ascending, into
    /// sparseInputs, with a lone pixel's input values beside them: taps, values, count; nil when
    /// more than `limit` are.
    func nonZeroInputs(_ g: ConvGeometry, input: UnsafePointer<Float>, pixels: Int,
                       limit: Int) throws -> (taps: UnsafePointer<UInt32>, values: UnsafePointer<Float>, count: Int)? {
        let taps = g.taps
        guard taps <= Int(UInt32.max), offsetTable.count == taps, pixels >= 1, pixelInputTable.count >= pixels else { return nil }
        let list = try sparseList(taps)
        let count = offsetTable.withUnsafeBufferPointer { offsets -> Int? in
            pixelInputTable.withUnsafeBufferPointer { ins -> Int? in
                guard let o = offsets.baseAddress, let pi = ins.baseAddress else { return nil }
                var count = 0
                for t in 0..<taps {
                    var x: Float = 0
                    for j in 0..<pixels {
                        x = input[pi[j] + o[t]]
                        if x != 0 { break }
                    }
                    if x != 0 {
                        guard count < limit else { return nil }
                        list.values[count] = x  // the value when pixels == 1
                        list.taps[count] = UInt32(truncatingIfNeeded: t)
                        count += 1
                    }
                }
                return count
            }
        }
        guard let count else { return nil }
        return (UnsafePointer(list.taps), UnsafePointer(list.values), count)
    }

    /// Room for `count` taps and their values in sparseInputs.
    func sparseList(_ count: Int) throws -> (taps: UnsafeMutablePointer<UInt32>, values: UnsafeMutablePointer<Float>) {
        let p = try sparseInputs.claim(2 * count, for: "non-zero inputs")
        return (UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt32.self), p + count)
    }

    /// The tap pairs q with x[q] != 0 (a lone pixel's bf16 inputs) into `list` (room for
    /// `pairs`), when at most sparsePixelPercent of the pairs are; nil otherwise.
    func nonZeroPairs(_ x: UnsafePointer<UInt32>, pairs: Int, into list: UnsafeMutablePointer<UInt32>) -> (UnsafePointer<UInt32>, Int)? {
        guard pairs <= Int(UInt32.max) else { return nil }
        let limit = pairs * Session.sparsePixelPercent(threads: pool.threadCount) / 100
        var count = 0
        for q in 0..<pairs where x[q] != 0 {
            guard count < limit else { return nil }
            list[count] = UInt32(truncatingIfNeeded: q)
            count += 1
        }
        return (UnsafePointer(list), count)
    }
}
