// The forward pass: layer by layer over ping-pong blocked buffers (`[C/16][H+2b][W+2b][16]`,
// border b = the next convolution's padding, 6 before 3×3 pad-1 layers for Winograd, zero where
// the next layer reads it), images in groups of up to 8, the fc layers once for the whole batch.
import CVggBF16
import CVggSupport
import Glibc
import VGGFormat

/// Shapes and buffer geometry of one run.
struct ForwardPlan {
    let input: ActivationShape
    let inputBorder: Int
    let shapes: [ActivationShape]
    let borders: [Int]
    let bufferFloats: Int
    let last: Int

    init(model: Model, height: Int, width: Int, through last: Int) throws {
        self.last = last
        input = ActivationShape(channels: model.inputChannels, height: height, width: width)
        shapes = try Planner.shapes(model: model, height: height, width: width, through: last)
        func border(before i: Int) -> Int {
            guard i <= last, i < model.layers.count else { return 0 }
            let l = model.layers[i]
            // Winograd tiles read up to 6 rows/columns past the image: 3×3 pad-1 inputs get 6.
            if Session.winogradShape(l) { return WinogradGeometry.minimumBorder }
            return l.kind == .convolution ? max(l.padH, l.padW) : 0
        }
        inputBorder = border(before: 0)
        borders = (0...last).map { border(before: $0 + 1) }
        func floats(_ s: ActivationShape, _ b: Int) -> Int {
            (s.channels + 15) / 16 * 16 * (s.height + 2 * b) * (s.width + 2 * b)
        }
        var most = floats(input, inputBorder)
        for i in 0...last { most = max(most, floats(shapes[i], borders[i])) }
        bufferFloats = most
    }
}

/// Rows above and below and columns left and right of a map that a layer reads from its border.
struct BorderReads {
    var top: Int, bottom: Int, left: Int, right: Int
}

/// Where a layer's output for one image lives during a run.
enum LayerOutput {
    /// Blocked buffer with a zero border.
    case blocked(UnsafeMutablePointer<Float>, border: Int)
    /// Plain CHW (reference path).
    case plain(UnsafePointer<Float>)

    /// Copies the output (shape `s`) to `dest` as CHW float32.
    func copy(shape s: ActivationShape, to dest: UnsafeMutablePointer<Float>) {
        switch self {
        case .plain(let p):
            dest.update(from: p, count: s.count)
        case .blocked(let p, let b):
            let hb = s.height + 2 * b, wb = s.width + 2 * b
            for c in 0..<s.channels {
                let plane = p + (c >> 4) * hb * wb * 16 + (c & 15)
                let out = dest + c * s.height * s.width
                for y in 0..<s.height {
                    let row = plane + ((y + b) * wb + b) * 16
                    let o = out + y * s.width
                    for x in 0..<s.width { o[x] = row[x * 16] }
                }
            }
        }
    }
}

extension Session {
    /// Runs `n` CHW images (`input`, n×3×height×width) through layers 0...last and hands the
    /// outputs of the layers in `wanted` to `sink(layer, image, shape, output)`.
    func run(input: UnsafePointer<Float>, n: Int, height: Int, width: Int, through last: Int, wanted: Set<Int>,
             sink: (Int, Int, ActivationShape, LayerOutput) throws -> Void) throws {
        try checkInput(n: n, height: height, width: width)
        let plan = try ForwardPlan(model: model, height: height, width: width, through: last)
        let imageFloats = plan.input.count
        if forceReference {
            for image in 0..<n {
                try Reference.run(model: model, image: input + image * imageFloats, plan: plan) { layer, shape, out in
                    if wanted.contains(layer) { try sink(layer, image, shape, .plain(out)) }
                }
            }
            return
        }
        // Images run in groups, layer by layer within a group, so that a Winograd layer's
        // weights are transformed once per group; a group's buffers stay within a budget (one
        // image at a time at large sizes). The fc layers past the last pooling run once for the
        // whole batch (their weights are read once).
        let stride = plan.bufferFloats
        let group = Session.imageGroup(n: n, imageFloats: stride)
        let a = try bufferA.reserve(group * stride)
        let b = try bufferB.reserve(group * stride)
        let tail = Session.tailStart(model: model, through: last)
        let tiles = winogradTiles(plan)
        let perImageLast = (tail ?? (last + 1)) - 1
        var stash: UnsafeMutablePointer<Float>?
        var stashFloats = 0
        if let tail {
            stashFloats = Session.blockedFloats(plan.shapes[tail - 1], plan.borders[tail - 1])
            stash = try tailStash.reserve(n * stashFloats)
        }
        var first = 0
        while first < n {
            let count = min(group, n - first)
            for k in 0..<count {
                loadInput(input + (first + k) * imageFloats, shape: plan.input, border: plan.inputBorder, into: a + k * stride)
            }
            var src = a, dst = b
            var srcShape = plan.input, srcBorder = plan.inputBorder
            var i = 0
            while i <= perImageLast {
                // A Winograd layer followed by a 2×2/2 max pooling writes the pooled map directly
                // (unless its own output is wanted): a quarter of the stores, no pooling pass.
                let fused = i < perImageLast && !wanted.contains(i) && Session.fusablePool(model.layers[i + 1])
                    && useWinograd(model.layers[i], inBorder: srcBorder, outWidth: plan.shapes[i].width)
                let end = fused ? i + 1 : i
                let shape = plan.shapes[end], border = plan.borders[end]
                let start = layerTimer == nil ? 0 : monotonicSeconds()
                try runLayer(model.layers[i], images: count, stride: stride, from: src, shape: srcShape, border: srcBorder,
                             to: dst, shape: plan.shapes[i], border: plan.borders[i], tileSize: tiles[i],
                             pooled: fused ? (shape, border) : nil)
                zeroBorders(dst, images: count, stride: stride, shape: shape, border: border,
                            reads: borderReads(of: end + 1, through: last, shape: shape, border: border, tiles: tiles))
                if let timer = layerTimer {
                    timer(i, monotonicSeconds() - start)
                    if fused { timer(end, 0) }
                }
                if wanted.contains(end) {
                    for k in 0..<count { try sink(end, first + k, shape, .blocked(dst + k * stride, border: border)) }
                }
                swap(&src, &dst)
                srcShape = shape
                srcBorder = border
                i = end + 1
            }
            if let stash {
                for k in 0..<count { (stash + (first + k) * stashFloats).update(from: src + k * stride, count: stashFloats) }
            }
            first += count
        }
        guard let tail, let stash else { return }
        var src = stash, srcFloats = stashFloats
        var srcShape = plan.shapes[tail - 1], srcBorder = plan.borders[tail - 1]
        for i in tail...last {
            let shape = plan.shapes[i], border = plan.borders[i]
            let dstFloats = Session.blockedFloats(shape, border)
            let dst = try ((i - tail) % 2 == 0 ? bufferA : bufferB).reserve(n * dstFloats)
            let start = layerTimer == nil ? 0 : monotonicSeconds()
            try runBatched(model.layers[i], n: n, from: src, imageFloats: srcFloats, shape: srcShape, border: srcBorder,
                           to: dst, imageFloats: dstFloats, shape: shape, border: border)
            zeroBorders(dst, images: n, stride: dstFloats, shape: shape, border: border,
                        reads: borderReads(of: i + 1, through: last, shape: shape, border: border, tiles: tiles))
            if let timer = layerTimer { timer(i, monotonicSeconds() - start) }
            if wanted.contains(i) {
                for image in 0..<n { try sink(i, image, shape, .blocked(dst + image * dstFloats, border: border)) }
            }
            src = dst
            srcFloats = dstFloats
            srcShape = shape
            srcBorder = border
        }
    }

    /// Bytes the two activation buffers of a whole group of images may take.
    static let groupBudget = 256 << 20

    /// Images per group: up to 8 (enough to amortise the weight transforms), within the budget.
    static func imageGroup(n: Int, imageFloats: Int) -> Int {
        max(1, min(n, 8, groupBudget / max(1, 2 * 4 * imageFloats)))
    }

    /// Layer `l` on `images` images whose buffers lie `stride` floats apart: Winograd layers
    /// take them all at once (with `pooled`, the shape and border of a fused 2×2/2 max pooling
    /// whose map `dst` receives), other layers image by image.
    func runLayer(_ l: Layer, images: Int, stride: Int, from src: UnsafeMutablePointer<Float>, shape inShape: ActivationShape,
                  border inBorder: Int, to dst: UnsafeMutablePointer<Float>, shape outShape: ActivationShape,
                  border outBorder: Int, tileSize: Int, pooled: (ActivationShape, Int)? = nil) throws {
        if let w = kernels.winograd, useWinograd(l, inBorder: inBorder, outWidth: outShape.width), let weight = l.weight {
            let bias = l.bias.map { $0.data.assumingMemoryBound(to: Float.self) }
            try winograd(l, w, images: images, stride: stride, input: UnsafePointer(src), weight: weight, bias: bias,
                         inShape: inShape, inBorder: inBorder, output: dst, outShape: outShape, outBorder: outBorder,
                         tileSize: tileSize, pooled: pooled)
            return
        }
        if pooled != nil { throw VGGError(.internal, "layer '\(l.name)': pooling fused into a layer that is not Winograd") }
        for k in 0..<images {
            try runLayer(l, from: src + k * stride, shape: inShape, border: inBorder, to: dst + k * stride, shape: outShape,
                         border: outBorder)
        }
    }

    /// A 2×2 stride-2 unpadded max pooling: what the Winograd output transform can fuse.
    static func fusablePool(_ l: Layer) -> Bool {
        l.kind == .maxPool && l.kernelH == 2 && l.kernelW == 2 && l.strideH == 2 && l.strideW == 2 && l.padH == 0 && l.padW == 0
    }

    /// Whether `weight` is computed with bf16 dot products: bf16 weights, the option on,
    /// x86-64-v4 kernels and AVX512-BF16.
    func useBF16(_ weight: Tensor) -> Bool {
        bf16Arithmetic && weight.dtype == .bf16 && kernels.path == .x86_64_v4 && Session.cpuHasBF16
    }

    /// useBF16 for a Winograd layer, whose bf16 products also need input channels in whole blocks.
    func useBF16Winograd(_ l: Layer, weight: Tensor) -> Bool {
        useBF16(weight) && l.inChannels % 16 == 0
    }

    /// Whether layer `l` runs as Winograd (kernels offer it, option on, shape and buffers fit).
    func useWinograd(_ l: Layer, inBorder: Int, outWidth: Int) -> Bool {
        kernels.winograd != nil && winogradEnabled && Session.winogradShape(l) && l.inChannels >= 16
            && outWidth >= Session.winogradMinimumWidth && inBorder >= WinogradGeometry.minimumBorder
    }

    /// Floats of one image's blocked buffer of shape `s` with border `b`.
    static func blockedFloats(_ s: ActivationShape, _ b: Int) -> Int {
        (s.channels + 15) / 16 * 16 * (s.height + 2 * b) * (s.width + 2 * b)
    }

    /// The first layer after the last pooling layer when it and every layer up to `last` are
    /// convolutions (the fc layers); nil otherwise.
    static func tailStart(model: Model, through last: Int) -> Int? {
        guard let lastPool = model.layers[0...last].lastIndex(where: { $0.kind == .maxPool || $0.kind == .averagePool }),
              lastPool < last else { return nil }
        let start = lastPool + 1
        return model.layers[start...last].allSatisfy { $0.kind == .convolution } ? start : nil
    }

    /// CHW image → blocked buffer with a zero border, a buffer row of a channel block per task
    /// (on the calling thread alone, 224×224 took ~0.35 ms while the other workers waited).
    func loadInput(_ image: UnsafePointer<Float>, shape s: ActivationShape, border b: Int, into buffer: UnsafeMutablePointer<Float>) {
        let hb = s.height + 2 * b, wb = s.width + 2 * b
        let blocks = (s.channels + 15) / 16
        pool.parallelFor(blocks * hb) { t in
            let block = t / hb, y = t % hb
            let row = buffer + (block * hb + y) * wb * 16
            row.update(repeating: 0, count: wb * 16)
            guard y >= b && y < b + s.height else { return }
            for c in block * 16..<min(s.channels, block * 16 + 16) {
                let dst = row + b * 16 + (c & 15)
                let src = image + (c * s.height + y - b) * s.width
                for x in 0..<s.width { dst[x * 16] = src[x] }
            }
        }
    }

    /// The part of a border-`b` ring around a map of shape `s` that layer `consumer` reads
    /// (rows above and below, columns left and right): its padding, and for a Winograd layer
    /// (tile m) the rows and columns its last tiles reach past the map (m·⌈H/m⌉ + 1 − H);
    /// nothing past the run's last layer.
    func borderReads(of consumer: Int, through last: Int, shape s: ActivationShape, border b: Int,
                     tiles: [Int]) -> BorderReads {
        guard consumer <= last, consumer < model.layers.count else { return BorderReads(top: 0, bottom: 0, left: 0, right: 0) }
        let l = model.layers[consumer]
        var reads = BorderReads(top: l.padH, bottom: l.padH, left: l.padW, right: l.padW)
        if consumer < tiles.count, tiles[consumer] > 0 {
            let m = tiles[consumer]
            reads.bottom = max(reads.bottom, (s.height + m - 1) / m * m + 1 - s.height)
            reads.right = max(reads.right, (s.width + m - 1) / m * m + 1 - s.width)
        }
        reads.top = min(reads.top, b)
        reads.bottom = min(reads.bottom, b)
        reads.left = min(reads.left, b)
        reads.right = min(reads.right, b)
        return reads
    }

    /// Zeroes what the next layer reads of the border rings of `images` blocked buffers `stride`
    /// floats apart (`reads`, within the border `b`), a channel block per task. The rest of the
    /// ring is never read: with the border of 6 before Winograd layers the whole rings were up to
    /// 1.5 MB per layer at 224×224 (conv3_x), 14 MB per run, against ~6 MB read.
    func zeroBorders(_ buffer: UnsafeMutablePointer<Float>, images: Int, stride: Int, shape s: ActivationShape, border b: Int,
                     reads: BorderReads) {
        guard b > 0 else { return }
        let blocks = (s.channels + 15) / 16
        let wb = s.width + 2 * b, hb = s.height + 2 * b
        // Columns b − left ..< b + width + right of the rows above and below; left and right of the rows between.
        let first = b - reads.left, span = reads.left + s.width + reads.right
        pool.parallelFor(images * blocks) { t in
            let plane = buffer + (t / blocks) * stride + (t % blocks) * hb * wb * 16
            for y in (b - reads.top)..<b { (plane + (y * wb + first) * 16).update(repeating: 0, count: span * 16) }
            for y in (b + s.height)..<(b + s.height + reads.bottom) {
                (plane + (y * wb + first) * 16).update(repeating: 0, count: span * 16)
            }
            for y in b..<(b + s.height) {
                (plane + (y * wb + first) * 16).update(repeating: 0, count: reads.left * 16)
                (plane + (y * wb + b + s.width) * 16).update(repeating: 0, count: reads.right * 16)
            }
        }
    }

    /// Layer `l` on one image with the direct, per-pixel, pooling or LRN kernels (Winograd
    /// layers go through runLayer(images:…)).
    func runLayer(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape inShape: ActivationShape, border inBorder: Int,
                  to dst: UnsafeMutablePointer<Float>, shape outShape: ActivationShape, border outBorder: Int) throws {
        switch l.kind {
        case .convolution:
            guard let weight = l.weight else { throw VGGError(.internal, "layer '\(l.name)' has no weight tensor") }
            let g = Session.convGeometry(l, inShape: inShape, inBorder: inBorder, outShape: outShape, outBorder: outBorder)
            let input = UnsafePointer(src)
            let weights = weight.data, dtype = weight.dtype.rawValue
            let bias = l.bias.map { $0.data.assumingMemoryBound(to: Float.self) }
            let blocks = g.outBlocks
            if g.outWidth >= 4 {
                let rows = kernels.rows, step = kernels.blockStep
                let height = g.outHeight
                pool.parallelFor((blocks + step - 1) / step * height) { t in
                    let row = t % height
                    rows(input, weights, dtype, bias, dst, g, t / height * step, row, row + 1)
                }
            } else {
                buildOffsets(g)
                let pixelsKernel = kernels.pixels
                let pixels = g.outHeight * g.outWidth
                offsetTable.withUnsafeBufferPointer { offsets in
                    guard let o = offsets.baseAddress else { return }
                    pool.parallelFor(blocks) { blk in
                        pixelsKernel(input, weights, dtype, bias, dst, g, o, blk, 0, pixels)
                    }
                }
            }
        case .maxPool, .averagePool:
            pooling(l, from: src, shape: inShape, border: inBorder, to: dst, shape: outShape, border: outBorder)
        case .lrn:
            lrn(l, from: src, shape: inShape, border: inBorder, to: dst, border: outBorder)
        }
    }

    static func convGeometry(_ l: Layer, inShape: ActivationShape, inBorder: Int, outShape: ActivationShape,
                             outBorder: Int) -> ConvGeometry {
        var g = ConvGeometry()
        g.inChannels = l.inChannels
        g.inHeight = inShape.height + 2 * inBorder
        g.inWidth = inShape.width + 2 * inBorder
        g.originY = inBorder - l.padH
        g.originX = inBorder - l.padW
        g.outChannels = l.outChannels
        g.outHeight = outShape.height
        g.outWidth = outShape.width
        g.outBorder = outBorder
        g.kernelH = l.kernelH; g.kernelW = l.kernelW
        g.strideH = l.strideH; g.strideW = l.strideW
        g.relu = l.relu
        return g
    }

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
        if useBF16(weight) {
            try runBatchedBF16(g, pixels: pixels, input: input, weights: weights, bias: bias, output: dst, outPlane: outPlane)
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
        let sums = try groupSums.reserve(threads * VGGFile.outputGroup)
        let kernel = kernels.groupedPixel
        pool.parallelFor(groups * parts) { task, worker in
            let share = Session.groupPart(task, parts: parts, perGroup: groupBlocks, count: g.outBlocks)
            guard !share.isEmpty else { return }
            kernel(values, taps, count, weights, bias, output, g, outPlane, at, share.lowerBound, share.count,
                   sums + worker * VGGFile.outputGroup)
        }
    }

    /// Task `task`'s share of `count` units (blocks or block pairs) that come in groups of
    /// `perGroup`, each group cut into `parts` (tasks: groups × parts).
    static func groupPart(_ task: Int, parts: Int, perGroup: Int, count: Int) -> Range<Int> {
        let first = task / parts * perGroup, inGroup = min(perGroup, count - first), part = task % parts
        return (first + part * inGroup / parts)..<(first + (part + 1) * inGroup / parts)
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
        let p = try sparseInputs.reserve(2 * count)
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

    /// runBatched with bf16 dot products (bf16-weight models, AVX512-BF16): the batch's input
    /// windows in bf16 tap pairs (im2col, once per layer), each block pair's weights packed into
    /// tap pairs chunk by chunk, then 8-pixel tiles of vdpbf16ps. Used at every batch size, so
    /// an image's result still does not depend on its batch.
    func runBatchedBF16(_ g: ConvGeometry, pixels: Int, input: UnsafePointer<Float>, weights: UnsafeRawPointer,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outPlane: Int) throws {
        let taps = g.taps, pairs = (taps + 1) / 2, chunkPairs = Session.gatherTapChunk / 2
        let x = UnsafeMutableRawPointer(try tailPairs.reserve(pixels * pairs)).assumingMemoryBound(to: UInt32.self)
        let threads = pool.threadCount
        while winogradScratch.count < threads { winogradScratch.append(FloatBuffer()) }
        var scratch = [UnsafeMutablePointer<UInt32>]()
        for i in 0..<threads {
            scratch.append(UnsafeMutableRawPointer(try winogradScratch[i].reserve(2 * chunkPairs * 16)).assumingMemoryBound(to: UInt32.self))
        }
        let blocks = g.outBlocks, relu = g.relu
        let pairList = pixels == 1 ? try sparseList(pairs).taps : nil
        offsetTable.withUnsafeBufferPointer { offsets in
            pixelInputTable.withUnsafeBufferPointer { ins in
                pixelOutputTable.withUnsafeBufferPointer { outs in
                    guard let o = offsets.baseAddress, let pi = ins.baseAddress, let po = outs.baseAddress else { return }
                    let o64 = UnsafeRawPointer(o).assumingMemoryBound(to: Int64.self)
                    let pi64 = UnsafeRawPointer(pi).assumingMemoryBound(to: Int64.self)
                    let po64 = UnsafeRawPointer(po).assumingMemoryBound(to: Int64.self)
                    pool.parallelFor(pixels) { j in vggbf16_im2col(input, o64, taps, pi64 + j, 1, x + j * pairs) }
                    // A lone pixel whose tap pairs are mostly zero: those pairs' weights are skipped (runSparsePixel).
                    let sparse = pairList.flatMap { nonZeroPairs(x, pairs: pairs, into: $0) }
                    pool.parallelFor((blocks + 1) / 2) { pair, worker in
                        let b0 = pair * 2, b1 = min(b0 + 1, blocks - 1)
                        let w0 = (weights + b0 * taps * 32).assumingMemoryBound(to: UInt16.self)
                        let w1 = (weights + b1 * taps * 32).assumingMemoryBound(to: UInt16.self)
                        let p0 = scratch[worker], p1 = p0 + chunkPairs * 16
                        let out0 = output + b0 * outPlane, out1 = b1 == b0 ? nil : output + b1 * outPlane
                        if let (list, count) = sparse {
                            vggbf16_gather_one_sparse(x, list, count, taps, w0, w1, out0 + Int(po64[0]),
                                                      out1.map { $0 + Int(po64[0]) }, bias.map { $0 + b0 * 16 },
                                                      bias.map { $0 + b1 * 16 }, relu ? 1 : 0)
                            return
                        }
                        if pixels == 1 {
                            vggbf16_gather_one(x, taps, w0, w1, out0 + Int(po64[0]), out1.map { $0 + Int(po64[0]) },
                                               bias.map { $0 + b0 * 16 }, bias.map { $0 + b1 * 16 }, relu ? 1 : 0)
                            return
                        }
                        var q = 0
                        while q < pairs {
                            let end = min(pairs, q + chunkPairs)
                            vggbf16_pack_taps(w0, taps, q, end, p0)
                            vggbf16_pack_taps(w1, taps, q, end, p1)
                            vggbf16_gather(x, pairs, pixels, q, end, p0, p1, out0, out1, po64, bias.map { $0 + b0 * 16 },
                                           bias.map { $0 + b1 * 16 }, relu && end == pairs ? 1 : 0)
                            q = end
                        }
                    }
                }
            }
        }
    }

    /// 3×3, stride 1, pad 1: the layers Winograd F(m×m, 3×3) can run.
    static func winogradShape(_ l: Layer) -> Bool {
        l.kind == .convolution && l.kernelH == 3 && l.kernelW == 3 && l.strideH == 1 && l.strideW == 1 && l.padH == 1 && l.padW == 1
    }

    /// Narrower outputs run direct convolution (measured: see docs/PERFORMANCE.md).
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
        let bf16 = useBF16Winograd(l, weight: weight)
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
        let plan = WinogradPlan(&g, threads: threads, bf16: bf16)
        let tiles = g.tiles, pairs = plan.pairs, splits = plan.splits, ranges = plan.ranges, microTiles = plan.microTiles
        let splitTiles = plan.splitTiles, pairsPerRange = plan.pairsPerRange, cached = plan.cached
        let cachedPairs = plan.cachedPairs, slotFloats = plan.slotFloats
        let vFloats = plan.inputFloats, uFloats = plan.weightFloats, mFloats = plan.productFloats
        while winogradScratch.count < threads { winogradScratch.append(FloatBuffer()) }
        var scratch = [UnsafeMutablePointer<Float>]()
        for i in 0..<threads { scratch.append(try winogradScratch[i].reserve(plan.scratchFloats)) }
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
        func shareInputs(of split: Int) {
            let v = scratch[0], vBF16 = halfInputs(v), (first, count) = tileRange(of: split)
            pool.parallelFor(inBlocks) { cb in inputKernel(input, g, cb, first, splitTiles, 0, count, v) }
            if bf16 {
                pool.parallelFor(threads) { k in
                    let start = k * vFloats / threads, end = (k + 1) * vFloats / threads
                    vggbf16_convert(v + start, vBF16 + start, end - start)
                }
            }
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
                    for cb in 0..<inBlocks { inputKernel(input, g, cb, first, splitTiles, 0, count, v) }
                    if bf16 { vggbf16_convert(v, vBF16, vFloats) }
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
                for pair in range * pairsPerRange..<min(pairs, (range + 1) * pairsPerRange) {
                    if let kept {
                        let pairWeights = kept + pair * keptPairWords * 4
                        products(UnsafePointer(v), weights, dtype, bias, output, g, pair * 2, first, splitTiles, 0, count,
                                 bf16 ? u : pairWeights.assumingMemoryBound(to: Float.self), true, m,
                                 bf16 ? UnsafePointer(vBF16) : nil, bf16 ? pairWeights.assumingMemoryBound(to: UInt32.self) : nil)
                        continue
                    }
                    let slot = pair % cachedPairs
                    let ready = cached && heldPair[worker * cachedPairs + slot] == pair
                    heldPair[worker * cachedPairs + slot] = pair
                    let slotU = u + slot * slotFloats
                    let packed = UnsafeMutableRawPointer(slotU + g.pairWeightFloats).assumingMemoryBound(to: UInt32.self)
                    products(UnsafePointer(v), weights, dtype, bias, output, g, pair * 2, first, splitTiles, 0, count,
                             slotU, ready, m, bf16 ? UnsafePointer(vBF16) : nil, bf16 ? packed : nil)
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

    /// Input offsets of every tap (ci, ky, kx) relative to a pixel's window origin.
    func buildOffsets(_ g: ConvGeometry) {
        let plane = g.inHeight * g.inWidth * 16
        offsetTable.removeAll(keepingCapacity: true)
        offsetTable.reserveCapacity(g.taps)
        for ci in 0..<g.inChannels {
            for ky in 0..<g.kernelH {
                for kx in 0..<g.kernelW {
                    offsetTable.append((ci >> 4) * plane + (ky * g.inWidth + kx) * 16 + (ci & 15))
                }
            }
        }
    }

    /// Max/average pooling with Caffe's window rules (max: windows clipped to the image;
    /// average: divided by the window clipped to the padded image), one row per task.
    func pooling(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape s: ActivationShape, border bi: Int,
                 to dst: UnsafeMutablePointer<Float>, shape o: ActivationShape, border bo: Int) {
        var g = PoolGeometry()
        (g.inHeight, g.inWidth, g.inBorder) = (s.height, s.width, bi)
        (g.outHeight, g.outWidth, g.outBorder) = (o.height, o.width, bo)
        (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW) = (l.kernelH, l.kernelW, l.strideH, l.strideW, l.padH, l.padW)
        g.isMax = l.kind == .maxPool
        let input = UnsafePointer(src), kernel = kernels.pool, rows = o.height
        pool.parallelFor((s.channels + 15) / 16 * rows) { t in kernel(input, dst, g, t / rows, t % rows) }
    }

    /// LRN across channels: x · (k + α/n · Σ x²)^(−β) over the n channels centred on each.
    func lrn(_ l: Layer, from src: UnsafeMutablePointer<Float>, shape s: ActivationShape, border bi: Int,
             to dst: UnsafeMutablePointer<Float>, border bo: Int) {
        let hbi = s.height + 2 * bi, wbi = s.width + 2 * bi
        let hbo = s.height + 2 * bo, wbo = s.width + 2 * bo
        let C = s.channels, half = (l.lrnLocalSize - 1) / 2
        let alphaOverN = l.lrnAlpha / Float(l.lrnLocalSize), beta = l.lrnBeta, k = l.lrnK
        let input = UnsafePointer(src)
        pool.parallelFor(s.height) { y in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: C + 1) { prefix in
                for x in 0..<s.width {
                    prefix[0] = 0
                    for c in 0..<C {
                        let v = input[((c >> 4) * hbi * wbi + (y + bi) * wbi + x + bi) * 16 + (c & 15)]
                        prefix[c + 1] = prefix[c] + Double(v * v)
                    }
                    for c in 0..<C {
                        let lo = max(0, c - half), hi = min(C - 1, c + half)
                        let sum = Float(prefix[hi + 1] - prefix[lo])
                        let v = input[((c >> 4) * hbi * wbi + (y + bi) * wbi + x + bi) * 16 + (c & 15)]
                        dst[((c >> 4) * hbo * wbo + (y + bo) * wbo + x + bo) * 16 + (c & 15)] = v * pow(k + alphaOverN * sum, -beta)
                    }
                }
            }
        }
    }
}

/// Seconds on the monotonic clock.
public func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
