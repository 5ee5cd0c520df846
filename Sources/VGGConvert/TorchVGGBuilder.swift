// Builds the canonical network from a torchvision or timm VGG state dict (whichever file it
// came from): convolutions and their BatchNorms from `features.N.*` (folded), max pools where
// the indices leave a gap, then the classifier — torchvision's Linear layers or timm's
// pre_logits convs and head — as fc6-fc8, run fully convolutionally.
import VGGFormat

enum TorchVGGBuilder {
    static func build(_ input: [String: StateDictTensor], what: String, into net: inout CanonicalNetwork) throws {
        // DataParallel prefixes every key with `module.`.
        var tensors = [String: StateDictTensor]()
        for (key, t) in input {
            let k = TorchVisionNames.strippingModulePrefix(key)
            if tensors[k] != nil { throw ConvertError("\(what): '\(k)' appears both with and without the 'module.' prefix") }
            tensors[k] = t
        }
        var used = Set<String>()
        func tensor(_ name: String) -> StateDictTensor? {
            guard let t = tensors[name] else { return nil }
            used.insert(name)
            return t
        }

        var convIndices = [Int](), batchNorms = Set<Int>()
        for key in tensors.keys {
            let parts = key.split(separator: ".")
            guard parts.count == 3, parts[0] == "features", let i = Int(parts[1]), i >= 0 else { continue }
            if parts[2] == "weight", tensors[key]?.shape.count == 4 { convIndices.append(i) }
            if parts[2] == "running_mean" { batchNorms.insert(i) }
        }
        if convIndices.isEmpty {
            let sample = tensors.keys.sorted().prefix(4).joined(separator: ", ")
            throw ConvertError("\(what) is not a torchvision or timm VGG state dict: no 'features.N.weight' convolution weights (keys: \(sample)\(tensors.count > 4 ? ", …" : ""))")
        }
        let layers = try TorchVisionNames.featureLayers(convolutions: convIndices, batchNorms: batchNorms)
        if layers.count + 3 > VGGFile.maxLayers { throw ConvertError("\(what): \(layers.count) feature layers; the format allows \(VGGFile.maxLayers) layers") }

        net.channelOrder = TorchVisionNames.channelOrder
        net.mean = TorchVisionNames.mean
        net.scale = TorchVisionNames.scale
        var channels = 3, height = net.inputHeight, width = net.inputWidth
        for f in layers {
            switch f.kind {
            case .convolution:
                let prefix = "features.\(f.index)"
                guard let w = tensor(prefix + ".weight") else { throw ConvertError("\(what): '\(prefix).weight' is missing") }
                let (outC, inC, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
                if inC != channels {
                    throw ConvertError("\(what): '\(prefix).weight' \(w.shape): expected \(channels) input channels (the previous layer's output), found \(inC)")
                }
                guard kh % 2 == 1, kw % 2 == 1, kh <= Int(VGGFile.maxKernel), kw <= Int(VGGFile.maxKernel),
                      (1...Int(VGGFile.maxChannels)).contains(outC) else {
                    throw ConvertError("\(what): '\(prefix).weight' \(w.shape): expected an odd kernel of at most \(VGGFile.maxKernel) (VGG's 3×3, padding 1) and 1…\(VGGFile.maxChannels) outputs")
                }
                let bias = tensor(prefix + ".bias")
                try checkVector(bias, outC, what)
                var l = CanonicalLayer(kind: .convolution, name: f.name)
                l.alias = f.alias
                (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (inC, outC, kh, kw)
                (l.padH, l.padW) = ((kh - 1) / 2, (kw - 1) / 2)
                l.relu = true
                if let b = f.batchNormIndex {
                    let bn = "features.\(b)"
                    guard let mean = tensor(bn + ".running_mean"), let variance = tensor(bn + ".running_var") else {
                        throw ConvertError("\(what): BatchNorm '\(bn)' lacks running_mean or running_var")
                    }
                    let gamma = tensor(bn + ".weight"), beta = tensor(bn + ".bias")
                    _ = tensor(bn + ".num_batches_tracked")
                    for t in [mean, variance, gamma, beta] { try checkVector(t, outC, what) }
                    l.hasBias = true
                    l.weights = foldedProvider(weight: w, bias: bias, gamma: gamma, beta: beta, mean: mean, variance: variance, layer: f.name)
                } else {
                    l.hasBias = bias != nil
                    l.weights = provider(weight: w, bias: bias)
                }
                guard let h = windowOutput(height, kernel: kh, stride: 1, pad: l.padH, pool: nil),
                      let wd = windowOutput(width, kernel: kw, stride: 1, pad: l.padW, pool: nil) else {
                    throw ConvertError("\(what): '\(prefix)' does not fit the \(height)×\(width) feature map at the training input size")
                }
                (height, width, channels) = (h, wd, outC)
                net.layers.append(l)
            case .maxPool:
                var l = CanonicalLayer(kind: .maxPool, name: f.name)
                l.alias = f.alias
                (l.inChannels, l.outChannels) = (channels, channels)
                (l.kernelH, l.kernelW, l.strideH, l.strideW) = (2, 2, 2, 2)
                l.rounding = .floor  // nn.MaxPool2d(2, 2), ceil_mode False
                guard let h = windowOutput(height, kernel: 2, stride: 2, pad: 0, pool: .floor),
                      let wd = windowOutput(width, kernel: 2, stride: 2, pad: 0, pool: .floor) else {
                    throw ConvertError("\(what): '\(f.alias)' (\(f.name)) does not fit the \(height)×\(width) feature map at the training input size \(net.inputHeight)×\(net.inputWidth) (see --input-size)")
                }
                (height, width) = (h, wd)
                net.layers.append(l)
            }
        }
        let folded = layers.filter { $0.batchNormIndex != nil }.count
        if folded > 0 { net.notes.append("folded \(folded) BatchNorm layers into their convolutions (eps \(TorchVisionNames.batchNormEpsilon))") }

        // The classifier: torchvision's Linear layers or timm's convs and head.
        let modules: [String]
        if tensors["classifier.0.weight"] != nil {
            modules = TorchVisionNames.torchvisionClassifier
        } else if tensors["pre_logits.fc1.weight"] != nil {
            modules = TorchVisionNames.timmClassifier
        } else {
            modules = []
            net.notes.append("no classifier (classifier.* or pre_logits.*/head.*): a features-only model, up to \(net.layers.last?.name ?? "")")
        }
        for (k, module) in modules.enumerated() {
            guard let w = tensor(module + ".weight") else { throw ConvertError("\(what): '\(module).weight' is missing (a VGG classifier has \(modules.joined(separator: ", ")))") }
            var l = CanonicalLayer(kind: .convolution, name: TorchVisionNames.fcNames[k])
            l.alias = module
            l.fromInnerProduct = true
            l.relu = k < modules.count - 1
            l.inChannels = channels
            let s = w.shape
            if s.count == 4 {  // timm's pre_logits convs
                guard s[1] == channels, s[2] == s[3] else {
                    throw ConvertError("\(what): '\(module).weight' \(s): expected (out, \(channels), k, k)")
                }
                (l.outChannels, l.kernelH, l.kernelW) = (s[0], s[2], s[3])
            } else if s.count == 2 {  // Linear (out, in), in = channels·k·k in (c, h, w) order: OIHW
                let side = k == 0 ? min(Int(Double(s[1] / max(channels, 1)).squareRoot().rounded()), Int(VGGFile.maxKernel) + 1) : 1
                guard s[1] == channels * side * side else {
                    throw ConvertError("\(what): '\(module).weight' \(s): expected \(channels)·k·k inputs (\(channels) channels over a k×k map), found \(s[1])")
                }
                (l.outChannels, l.kernelH, l.kernelW) = (s[0], side, side)
            } else {
                throw ConvertError("\(what): '\(module).weight' \(s): expected 2 (Linear) or 4 (conv) dimensions")
            }
            guard (1...Int(VGGFile.maxChannels)).contains(l.outChannels), l.kernelH <= Int(VGGFile.maxKernel) else {
                throw ConvertError("\(what): '\(module).weight' \(s): expected 1…\(VGGFile.maxChannels) outputs over at most a \(VGGFile.maxKernel)×\(VGGFile.maxKernel) map")
            }
            if k == 0, (l.kernelH != height || l.kernelW != width) {
                throw ConvertError("\(what): \(module) takes a \(l.kernelH)×\(l.kernelW) map but the training input \(net.inputHeight)×\(net.inputWidth) gives \(height)×\(width) at \(net.layers.last?.name ?? ""); pass --input-size \(l.kernelH * 32)")
            }
            if k > 0, l.kernelH != 1 || l.kernelW != 1 {
                throw ConvertError("\(what): '\(module).weight' \(s): expected \(channels) inputs")
            }
            let bias = tensor(module + ".bias")
            try checkVector(bias, l.outChannels, what)
            l.hasBias = bias != nil
            l.weights = provider(weight: w, bias: bias)
            (height, width, channels) = (1, 1, l.outChannels)
            net.layers.append(l)
        }
        if modules == TorchVisionNames.torchvisionClassifier, let fc6 = net.layers.first(where: { $0.name == "fc6" }) {
            net.notes.append("fc6 runs as a \(fc6.kernelH)×\(fc6.kernelW) convolution over pool5, fully convolutionally: torchvision first pools pool5 to 7×7 (AdaptiveAvgPool2d), the identity at 224; at other sizes libvgg slides the classifier over the map instead")
        }
        net.notes.append("preprocessing recorded as torchvision/timm's: RGB, mean (0.485, 0.456, 0.406)·255, scale 1/((0.229, 0.224, 0.225)·255)")

        let unused = tensors.keys.filter { !used.contains($0) }.sorted()
        if !unused.isEmpty {
            throw ConvertError("\(what): '\(unused[0])'\(unused.count > 1 ? " (and \(unused.count - 1) more keys)" : "") is not part of a torchvision or timm VGG")
        }
    }

    static func checkVector(_ t: StateDictTensor?, _ count: Int, _ what: String) throws {
        guard let t else { return }
        if t.shape != [count] { throw ConvertError("\(what): '\(t.name)' has shape \(t.shape), expected [\(count)]") }
    }

    static func provider(weight: StateDictTensor, bias: StateDictTensor?) -> WeightProvider {
        return { body in
            let b = try bias?.floats()
            try weight.withWeights { w in
                guard let b else { return try body(w, nil) }
                try b.withUnsafeBufferPointer { try body(w, WeightSource($0)) }
            }
        }
    }

    static func foldedProvider(weight: StateDictTensor, bias: StateDictTensor?, gamma: StateDictTensor?, beta: StateDictTensor?,
                               mean: StateDictTensor, variance: StateDictTensor, layer: String) -> WeightProvider {
        return { body in
            let n = mean.elementCount
            let bn = BatchNormParameters(gamma: try gamma?.floats() ?? [Float](repeating: 1, count: n),
                                         beta: try beta?.floats() ?? [Float](repeating: 0, count: n),
                                         mean: try mean.floats(), variance: try variance.floats(),
                                         epsilon: TorchVisionNames.batchNormEpsilon)
            var w = try weight.floats()
            let b = try w.withUnsafeMutableBufferPointer {
                try BatchNormFolding.fold(weights: $0, bias: try bias?.floats(), batchNorm: bn, layer: layer)
            }
            try w.withUnsafeBufferPointer { wp in try b.withUnsafeBufferPointer { try body(WeightSource(wp), WeightSource($0)) } }
        }
    }
}
