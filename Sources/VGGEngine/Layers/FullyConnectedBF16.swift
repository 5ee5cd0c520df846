// fc layers with bf16 weights computed as bf16 dot products (vdpbf16ps) or on AMX tiles: inputs packed in tap pairs.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// runBatched with bf16 dot products (bf16-weight models, AVX512-BF16): the batch's input
    /// windows in bf16 tap pairs (im2col, once per layer), each block pair's weights packed into
    /// tap pairs chunk by chunk, then 8-pixel tiles of vdpbf16ps. Used at every batch size, so
    /// an image's result still does not depend on its batch. With `amx` (useAMXFC: several
    /// pixels per image) AMX tiles instead (vggamx_gather), the next chunk's raw weights fetched
    /// to L2 while they run.
    func runBatchedBF16(_ g: ConvGeometry, pixels: Int, input: UnsafePointer<Float>, weights: UnsafeRawPointer,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outPlane: Int, amx: Bool) throws {
        guard let bf16 = kernels.bf16 else { throw VGGError(.internal, "bf16 fc layer without bf16 kernels") }
        let taps = g.taps, pairs = (taps + 1) / 2, chunkPairs = Session.gatherTapChunk / 2
        let x = UnsafeMutableRawPointer(try fcInputPairs.claim(pixels * pairs, for: "fc input pairs")).assumingMemoryBound(to: UInt32.self)
        let threads = pool.threadCount
        guard workerScratch.count >= threads else { throw VGGError(.internal, "workspace plan: no fc scratch for \(threads) workers") }
        var scratch = [UnsafeMutablePointer<UInt32>]()
        for i in 0..<threads {
            scratch.append(UnsafeMutableRawPointer(try workerScratch[i].claim(2 * chunkPairs * 16, for: "fc weight pairs")).assumingMemoryBound(to: UInt32.self))
        }
        let blocks = g.outBlocks, relu = g.relu
        let pairList = pixels == 1 && !amx ? try sparseList(pairs).taps : nil
        offsetTable.withUnsafeBufferPointer { offsets in
            pixelInputTable.withUnsafeBufferPointer { ins in
                pixelOutputTable.withUnsafeBufferPointer { outs in
                    guard let o = offsets.baseAddress, let pi = ins.baseAddress, let po = outs.baseAddress else { return }
                    let o64 = UnsafeRawPointer(o).assumingMemoryBound(to: Int64.self)
                    let pi64 = UnsafeRawPointer(pi).assumingMemoryBound(to: Int64.self)
                    let po64 = UnsafeRawPointer(po).assumingMemoryBound(to: Int64.self)
                    pool.parallelFor(pixels) { j in bf16.im2col(input, o64, taps, pi64 + j, 1, x + j * pairs) }
                    // A lone pixel whose tap pairs are mostly zero: those pairs' weights are skipped (runSparsePixel).
                    let sparse = pairList.flatMap { nonZeroPairs(x, pairs: pairs, into: $0) }
                    pool.parallelFor((blocks + 1) / 2) { pair, worker in
                        let b0 = pair * 2, b1 = min(b0 + 1, blocks - 1)
                        let w0 = (weights + b0 * taps * 32).assumingMemoryBound(to: UInt16.self)
                        let w1 = (weights + b1 * taps * 32).assumingMemoryBound(to: UInt16.self)
                        let p0 = scratch[worker], p1 = p0 + chunkPairs * 16
                        let out0 = output + b0 * outPlane, out1 = b1 == b0 ? nil : output + b1 * outPlane
                        if let (list, count) = sparse {
                            bf16.gatherOneSparse(x, list, count, taps, w0, w1, out0 + Int(po64[0]),
                                                      out1.map { $0 + Int(po64[0]) }, bias.map { $0 + b0 * 16 },
                                                      bias.map { $0 + b1 * 16 }, relu ? 1 : 0)
                            return
                        }
                        if pixels == 1 && !amx {
                            bf16.gatherOne(x, taps, w0, w1, out0 + Int(po64[0]), out1.map { $0 + Int(po64[0]) },
                                               bias.map { $0 + b0 * 16 }, bias.map { $0 + b1 * 16 }, relu ? 1 : 0)
                            return
                        }
                        var q = 0
                        while q < pairs {
                            let end = min(pairs, q + chunkPairs)
                            bf16.packTaps(w0, taps, q, end, p0)
                            bf16.packTaps(w1, taps, q, end, p1)
                            let bias0 = bias.map { $0 + b0 * 16 }, bias1 = bias.map { $0 + b1 * 16 }, last: Int32 = relu && end == pairs ? 1 : 0
                            if amx {
                                // The next chunk's raw weights of both blocks (2 taps of 16 bf16 per pair).
                                let next = min(pairs, end + chunkPairs), ahead = min(taps, 2 * next) - min(taps, 2 * end)
                                bf16.amxGather(x, pairs, pixels, q, end, p0, p1, out0, out1, po64, bias0, bias1, last,
                                               UnsafeRawPointer(w0 + min(taps, 2 * end) * 16),
                                               b1 == b0 ? nil : UnsafeRawPointer(w1 + min(taps, 2 * end) * 16), ahead * 32)
                            } else {
                                bf16.gather(x, pairs, pixels, q, end, p0, p1, out0, out1, po64, bias0, bias1, last)
                            }
                            q = end
                        }
                    }
                }
            }
        }
    }
}
