// Winograd layers: which 3×3 layers run as F(4×4,3×3) or F(6×6,3×3), their geometry, and the
// driver that transforms inputs, multiplies in the transformed domain and transforms back.
import CVggSupport
import Glibc
import VGGFormat

extension Session {
    /// 3×3, stride 1, pad 1: the layers Winograd F(m×m, 3×3) can run.
    static func winogradShape(_ l: Layer) -> Bool {
        l.kind == .convolution && l.kernelH == 3 && l.kernelW == 3 && l.strideH == 1 && l.strideW == 1 && l.padH == 1 && l.padW == 1
    }

    /// Narrower outputs run direct convolution (measured: see docs/EXPERIMENTS.md).
    static let winogradMinimumWidth = 8

    /// F(6×6) where it does less work than F(4×4) by points × (tiles + τ) — ≥ 5% less when the
    /// model keeps its F(6×6) weights (`kept6`), ≥ 10% otherwise: per image (so that a batch
    /// computes exactly what single images do), tiles counted as the microkernel runs them (8
    /// at a time; a ragged end of 1–2 tiles at half speed, 3–7 as a full 8), τ = 6 tiles' worth
    /// of products per point for transforming the weights when they are transformed per run
    /// (not kept by the model for that tile, more than 128 input channels or 4 block
    /// pairs), else 0. With kept weights (VGG16 224, 2 threads) conv3_2/3_3 ran 9% faster with
    /// F(6×6) (7.6% less work); the larger margin otherwise stands for F(6×6)'s costlier
    /// transforms per output.
    /// Measured A/B before weights were kept (VGG16, 2 threads): at 384 F(6×6) everywhere ran
    /// conv3_x 20–26%, conv4_x 12–19%, conv5_x 13–22% faster (whole run −10%); at 224
    /// conv1_2/conv2_x 3–13% faster, but conv3_2/3_3 +10%, conv4_x +6%, conv5_x +27% slower (25
    /// and 9 tiles of 6 against 49 and 16 of 4). The rule picks F(6×6) for conv1_2 … conv3_3 at
    /// 224 and every 3×3 layer but conv1_1 at 384. Always F(4×4) with bf16 products: F(6×6)'s
    /// larger coefficients took their error from 1.9e-2 to 3.3e-2.
    static func cheaperWinogradTile(inChannels: Int, outChannels: Int, height: Int, width: Int, bf16: Bool,
                                    kept4: Bool, kept6: Bool) -> Int {
        if bf16 { return 4 }
        func tiles(_ m: Int) -> Int {
            let n = ((height + m - 1) / m) * ((width + m - 1) / m), rest = n % 8
            return n - rest + (rest == 0 ? 0 : rest <= 2 ? 2 * rest : 8)
        }
        let perWorker = inChannels <= 128 && ((outChannels + 15) / 16 + 1) / 2 <= WinogradPlan.cachedPairLimit
        let work4 = 36 * (tiles(4) + (perWorker || kept4 ? 0 : 6)), work6 = 64 * (tiles(6) + (perWorker || kept6 ? 0 : 6))
        return work6 * 20 <= work4 * (kept6 ? 19 : 18) ? 6 : 4
    }

    static func winogradGeometry(_ l: Layer, inShape: ActivationShape, inBorder: Int, outShape: ActivationShape,
                                 outBorder: Int, tileSize: Int) -> WinogradGeometry {
        var g = WinogradGeometry()
        g.tileSize = tileSize
        g.inChannels = l.inChannels
        g.inBufferHeight = inShape.height + 2 * inBorder
        g.inBufferWidth = inShape.width + 2 * inBorder
        g.inBorder = inBorder
        g.outChannels = l.outChannels
        g.outHeight = outShape.height
        g.outWidth = outShape.width
        g.outBorder = outBorder
        g.relu = l.relu
        return g
    }

    /// A 3×3 layer by Winograd F(4×4, 3×3) or F(6×6, 3×3) on `images` images (buffers `stride` floats apart),
    /// their tiles one after another; with `pooled` (shape and border of a following 2×2/2 max
    /// pooling) the output buffer receives the pooled map instead. Tasks are (split of tiles) × (range of output-block
    /// pairs). Where the weights are cached per worker, each worker transforms the inputs of its
    /// split into its own buffer (again only when it moves to another split) and runs the
    /// products and output transform for its pairs: keeping a split's transformed inputs on the
    /// core that made them matters (with one shared buffer read by both cores conv1_2 ran no
    /// faster on 2 threads than on 1, cache lines moving between cores). Other layers run their
    /// splits in lockstep (WinogradPlan.lockstep): all workers transform a split's inputs into
    /// one buffer, then share out its pair ranges.
    func winograd(_ l: Layer, _ w: WinogradKernels, images: Int, stride: Int, input: UnsafePointer<Float>, weight: Tensor,
                  bias: UnsafePointer<Float>?, inShape: ActivationShape, inBorder: Int, output: UnsafeMutablePointer<Float>,
                  outShape: ActivationShape, outBorder: Int, tileSize: Int, pooled: (ActivationShape, Int)? = nil) throws {
        let bf16 = useBF16Winograd(l, weight: weight), amx = useAMX(l, weight: weight)
        let convert = kernels.bf16?.convert, interleave = kernels.bf16?.interleaveInputs
        if bf16 && convert == nil { throw VGGError(.internal, "layer '\(l.name)': bf16 products without bf16 kernels") }
        var g = Session.winogradGeometry(l, inShape: inShape, inBorder: inBorder, outShape: outShape, outBorder: outBorder,
                                         tileSize: tileSize)
        if let (shape, border) = pooled {
            g.pool = true
            g.pooledHeight = shape.height
            g.pooledWidth = shape.width
            g.pooledBorder = border
        }
        g.images = images
        g.inImageFloats = stride
        g.outImageFloats = stride
        let threads = pool.threadCount
        let plan = WinogradPlan(&g, threads: threads, bf16: bf16, amx: amx)
        let tiles = g.tiles, pairs = plan.pairs, splits = plan.splits, ranges = plan.ranges, microTiles = plan.microTiles
        let splitTiles = plan.splitTiles, pairsPerRange = plan.pairsPerRange, cached = plan.cached
        let interleaved = plan.interleavedPairs
        let cachedPairs = plan.cachedPairs, slotFloats = plan.slotFloats
        let vFloats = plan.inputFloats, uFloats = plan.weightFloats, mFloats = plan.productFloats
        guard workerScratch.count >= threads else { throw VGGError(.internal, "workspace plan: no Winograd scratch for \(threads) workers") }
        var scratch = [UnsafeMutablePointer<Float>]()
        for i in 0..<threads { scratch.append(try workerScratch[i].claim(plan.scratchFloats, for: "Winograd scratch")) }
        // Per worker: the split whose inputs its buffer holds, and the pair in each weight slot (−1: none).
        let heldSplit = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        let heldPair = UnsafeMutablePointer<Int>.allocate(capacity: threads * cachedPairs)
        defer { heldSplit.deallocate(); heldPair.deallocate() }
        heldSplit.initialize(repeating: -1, count: threads)
        heldPair.initialize(repeating: -1, count: threads * cachedPairs)
        let inputKernel = w.input, products = w.products
        let kept = try keptWinogradWeights(w, weight: weight, geometry: g, pairs: pairs, packed: bf16)
        let keptPairWords = Session.keptWeightWords(g, pairs: 1, packed: bf16)
        let weights = weight.data, dtype = weight.dtype.rawValue, inBlocks = g.inBlocks
        // In lockstep (conv3_x … conv5_x at 224 and 384, and in batches) the splits run one after
        // the other: a split's inputs are transformed once, block by block on all workers, into
        // worker 0's buffer, which every worker then reads for its pairs (each would otherwise
        // transform the split itself, and read its own transformed inputs from DRAM again for
        // every pair).
        let sharedInputs = plan.lockstep && ranges > 1
        // A worker's scratch: V (f32), the weight slots, M, then V in bf16.
        func halfInputs(_ v: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<UInt16> {
            UnsafeMutableRawPointer(v + vFloats + uFloats + mFloats).assumingMemoryBound(to: UInt16.self)
        }
        // Tiles first ..< first + count of a split: whole micro-tiles, spread evenly.
        func tileRange(of split: Int) -> (first: Int, count: Int) {
            let first = min(tiles, split * microTiles / splits * 8)
            return (first, min(tiles, (split + 1) * microTiles / splits * 8) - first)
        }
        // On AMX tiles with F(4×4) the input transform writes the tiles' bf16 rows itself.
        let inputTiles = amx && g.tileSize == 4 ? w.inputTiles : nil
        let convertsInputs = bf16 && inputTiles == nil
        // Input block cb of the split's tiles first ..< first + count: V in f32, or the tiles' rows.
        func transformInputs(block cb: Int, first: Int, count: Int, _ v: UnsafeMutablePointer<Float>,
                             _ vBF16: UnsafeMutablePointer<UInt16>) {
            if let inputTiles {
                inputTiles(input, g, cb, first, splitTiles, 0, count, vBF16)
            } else {
                inputKernel(input, g, cb, first, splitTiles, 0, count, v)
            }
        }
        // Part k of n of V (f32) converted for bf16 products: the AMX tiles' rows (by points) or
        // the dot products' layout (by floats).
        func convertInputs(_ v: UnsafeMutablePointer<Float>, _ vBF16: UnsafeMutablePointer<UInt16>, part k: Int, of n: Int) {
            if amx {
                interleave?(v, g.inputStride(tiles: splitTiles), splitTiles, inBlocks, k * g.points / n, (k + 1) * g.points / n,
                            vBF16)
            } else {
                let start = k * vFloats / n, end = (k + 1) * vFloats / n
                convert?(v + start, vBF16 + start, end - start)
            }
        }
        func shareInputs(of split: Int) {
            let v = scratch[0], vBF16 = halfInputs(v), (first, count) = tileRange(of: split)
            pool.parallelFor(inBlocks) { cb in transformInputs(block: cb, first: first, count: count, v, vBF16) }
            if convertsInputs { pool.parallelFor(threads) { k in convertInputs(v, vBF16, part: k, of: threads) } }
            for worker in 0..<threads { heldSplit[worker] = split }
        }
        // Tasks: the pair ranges of split `shared`, or with nil (split, pair range) of every split.
        func runTasks(shared: Int?) {
            pool.parallelFor(shared == nil ? splits * ranges : ranges) { t, worker in
                let split = shared ?? t / ranges, range = t % ranges
                let (first, count) = tileRange(of: split)
                let own = scratch[worker], v = sharedInputs ? scratch[0] : own
                let u = own + vFloats, m = u + uFloats, vBF16 = halfInputs(v)
                if heldSplit[worker] != split {
                    for cb in 0..<inBlocks { transformInputs(block: cb, first: first, count: count, v, vBF16) }
                    if convertsInputs { convertInputs(v, vBF16, part: 0, of: 1) }
                    heldSplit[worker] = split
                    // The split this worker probably takes next (tasks go out in order, round the
                    // workers) is fetched to L2 while this one's products run: single-micro-tile
                    // splits read their inputs in short runs the hardware prefetcher hardly learns.
                    // VGG16 224: conv1_2 −0.2 ms (2 threads), −0.35 ms (1 thread); conv2_x −0.1 ms each.
                    let next = split + threads
                    if cached && next < splits {
                        let (nextFirst, nextCount) = tileRange(of: next)
                        Session.prefetchWinogradInput(input, g, first: nextFirst, count: nextCount)
                    }
                }
                // One pair's products over input channels c0 ..< c1 into `mPair`, from its kept
                // weights or those in its slot (transformed there unless the slot holds them).
                func pairProducts(_ pair: Int, into mPair: UnsafeMutablePointer<Float>, channels c0: Int, _ c1: Int) {
                    if let kept {
                        let pairWeights = kept + pair * keptPairWords * 4
                        products(UnsafePointer(v), weights, dtype, bias, output, g, pair * 2, first, splitTiles, 0, count,
                                 bf16 ? u : pairWeights.assumingMemoryBound(to: Float.self), true, mPair,
                                 bf16 ? UnsafePointer(vBF16) : nil, bf16 ? pairWeights.assumingMemoryBound(to: UInt32.self) : nil,
                                 amx, c0, c1)
                        return
                    }
                    let slot = pair % cachedPairs
                    let ready = cached && heldPair[worker * cachedPairs + slot] == pair
                    heldPair[worker * cachedPairs + slot] = pair
                    let slotU = u + slot * slotFloats
                    let packed = UnsafeMutableRawPointer(slotU + g.pairWeightFloats).assumingMemoryBound(to: UInt32.self)
                    products(UnsafePointer(v), weights, dtype, bias, output, g, pair * 2, first, splitTiles, 0, count,
                             slotU, ready, mPair, bf16 ? UnsafePointer(vBF16) : nil, bf16 ? packed : nil, amx, c0, c1)
                }
                // Pairs `interleaved` at a time, chunk by chunk, each into its own M: a chunk's V is
                // read by all of them while in cache, instead of all of V once per pair
                // (WinogradPlan.interleavedPairs). With 1, pair after pair over all channels.
                let rangeEnd = min(pairs, (range + 1) * pairsPerRange)
                let channelStep = interleaved > 1 ? g.channelChunk : g.inChannels
                var start = range * pairsPerRange
                while start < rangeEnd {
                    let group = start..<min(rangeEnd, start + interleaved)
                    var c = 0
                    while c < g.inChannels {
                        for pair in group {
                            pairProducts(pair, into: m + (pair - start) * plan.pairProductFloats, channels: c,
                                         min(g.inChannels, c + channelStep))
                        }
                        c += channelStep
                    }
                    start = group.upperBound
                }
            }
        }
        if sharedInputs {
            for split in 0..<splits {
                shareInputs(of: split)
                runTasks(shared: split)
            }
        } else {
            runTasks(shared: nil)
        }
    }

    /// Fetches to L2 the input lines the input transform of tiles first..<first + count reads
    /// (their (m + 2)² patches in every channel block).
    static func prefetchWinogradInput(_ input: UnsafePointer<Float>, _ g: WinogradGeometry, first: Int, count: Int) {
        let m = g.tileSize, rowBytes = g.inBufferWidth * 64, planeBytes = g.inBufferHeight * rowBytes
        let base = UnsafeRawPointer(input)
        for t in first..<(first + count) {
            let image = t / g.imageTiles, tile = t - image * g.imageTiles
            let tileRow = tile / g.tilesW, tileColumn = tile - tileRow * g.tilesW
            let origin = base + image * g.inImageFloats * 4 + (m * tileRow - 1 + g.inBorder) * rowBytes
                + (m * tileColumn - 1 + g.inBorder) * 64
            for cb in 0..<g.inBlocks {
                for r in 0..<(m + 2) {
                    let row = origin + cb * planeBytes + r * rowBytes
                    for q in 0..<(m + 2) { vggsupport_prefetch_l2(row + q * 64) }
                }
            }
        }
    }
}
