// The forward pass: layer by layer over ping-pong blocked buffers (`[C/16][H+2b][W+2b][16]`,
// border b = the next convolution's padding, 6 before 3×3 pad-1 layers for Winograd, zero where
// the next layer reads it), images in groups of up to 8, the fc layers once for the whole batch.
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
    /// outputs of the layers in `wanted` to `sink(layer, image, shape, output)`; `scores`: the
    /// workspace also holds a score map for the sink (probabilities).
    func run(input: UnsafePointer<Float>, n: Int, height: Int, width: Int, through last: Int, wanted: Set<Int>,
             scores: Bool = false, sink: (Int, Int, ActivationShape, LayerOutput) throws -> Void) throws {
        try checkInput(n: n, height: height, width: width)
        let plan = try ForwardPlan(model: model, height: height, width: width, through: last)
        let imageFloats = plan.input.count
        try reserveWorkspace(workspacePlan(plan, n: n, scores: scores))
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
        let a = try bufferA.claim(group * stride, for: "activations")
        let b = try bufferB.claim(group * stride, for: "activations")
        let firstFC = Session.fcStart(model: model, through: last)
        let tiles = winogradTiles(plan)
        let perImageLast = (firstFC ?? (last + 1)) - 1
        var stash: UnsafeMutablePointer<Float>?
        var stashFloats = 0
        if let firstFC {
            stashFloats = Session.blockedFloats(plan.shapes[firstFC - 1], plan.borders[firstFC - 1])
            stash = try fcInput.claim(n * stashFloats, for: "fc input")
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
        guard let firstFC, let stash else { return }
        var src = stash, srcFloats = stashFloats
        var srcShape = plan.shapes[firstFC - 1], srcBorder = plan.borders[firstFC - 1]
        for i in firstFC...last {
            let shape = plan.shapes[i], border = plan.borders[i]
            let dstFloats = Session.blockedFloats(shape, border)
            let dst = try ((i - firstFC) % 2 == 0 ? bufferA : bufferB).claim(n * dstFloats, for: "fc output")
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

    /// Whether `weight` is computed with bf16 dot products: bf16 weights, kernels that offer them
    /// (x86-64-v4 on a CPU with AVX512-BF16) and the option asking for them on this CPU.
    func useBF16(_ weight: Tensor) -> Bool {
        weight.dtype == .bf16 && bf16DotProducts
    }

    /// Whether bf16 weights run as bf16 dot products with the Session's option on this CPU (what useBF16 decides
    /// for every bf16 tensor).
    public var bf16DotProducts: Bool {
        guard let bf16 = kernels.bf16 else { return false }
        return bf16Arithmetic == .always || (bf16Arithmetic == .whereFaster && bf16.fullRate)
    }

    /// Whether a Winograd layer's products are bf16 (dot products or AMX tiles): useBF16 with
    /// input channels in whole blocks, or useAMX.
    func useBF16Winograd(_ l: Layer, weight: Tensor) -> Bool {
        (useBF16(weight) && l.inChannels % 16 == 0) || useAMX(l, weight: weight)
    }

    /// Whether a Winograd layer's bf16 products run on AMX tiles: bf16 weights, input channels
    /// in multiples of 32 (a tile row), the default arithmetic, and the process may use AMX
    /// (asked last: the first ask requests the tile state from Linux).
    func useAMX(_ l: Layer, weight: Tensor) -> Bool {
        l.inChannels % 32 == 0 && amxArithmetic(weight)
    }

    /// What every AMX path needs: bf16 weights, the default arithmetic, and a process that may
    /// use AMX (asked last: the first ask requests the tile state from Linux).
    private func amxArithmetic(_ weight: Tensor) -> Bool {
        weight.dtype == .bf16 && bf16Arithmetic == .whereFaster && kernels.bf16?.amxTiles == true
    }

    /// Whether an fc layer (as a convolution of `taps` taps, `perImage` output pixels per image)
    /// runs on AMX tiles: bf16 OBLOCK16 weights, taps in multiples of 32 (a tile row), the default
    /// arithmetic, the process may use AMX, and several pixels per image (inputs larger than the
    /// classifier's: a lone pixel is bound by reading the weights, which its non-zero inputs
    /// thin out; decided per image, so that an image's result does not depend on its batch).
    func useAMXFC(_ weight: Tensor, taps: Int, perImage: Int) -> Bool {
        weight.layout == .oBlock16 && taps % 32 == 0 && perImage > 1 && amxArithmetic(weight)
    }

    /// Whether the model's bf16-weight Winograd layers would run on AMX tiles (vgg bench's header).
    public var amxTiles: Bool {
        model.layers.contains { l in
            l.weight.map { Session.winogradShape(l) && useAMX(l, weight: $0) } ?? false
        }
    }

    /// Whether layer `l` runs as Winograd (kernels offer it, option on, shape and buffers fit).
    func useWinograd(_ l: Layer, inBorder: Int, outWidth: Int) -> Bool {
        kernels.winograd != nil && winogradEnabled && Session.winogradShape(l) && l.inChannels >= 16
            && outWidth >= Session.winogradMinimumWidth && inBorder >= WinogradGeometry.minimumBorder
    }
}
