// Turns an ONNX graph into the canonical network: walks the plain VGG chain from the graph's
// input to its output — Conv [BatchNormalization] Relu, MaxPool, then Flatten/Reshape and
// Gemm or MatMul+Add as fc6-fc8 (fc6 a convolution over pool5, run fully convolutionally) —
// with Dropout, Identity, Softmax and pools that are the identity at the export size skipped.
// Every other op is refused by name. Facts and sources: docs/SOURCE_FORMATS.md (PyTorch, safetensors, ONNX).
import VGGFormat

public enum ONNXImporter {
    /// Ops the importer reads; anything else in the graph is refused naming the node.
    static let supportedOps: Set<String> = [
        "Conv", "Relu", "MaxPool", "BatchNormalization", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape",
        "Gemm", "MatMul", "Add", "Dropout", "Identity", "Softmax", "Constant", "ReduceMean",
    ]

    static func looksLikeONNX(_ bytes: UnsafeRawBufferPointer) -> Bool { ONNXGraph.looksLikeModel(bytes) }

    public static func importFile(path: String, inputSize: Int?) throws -> CanonicalNetwork {
        let file = try mapConverterInput(path)
        let graph = try ONNXGraph.read(file: file, path: path)
        var builder = try ONNXChainBuilder(graph: graph, path: path)
        return try builder.build(inputSize: inputSize)
    }
}

/// The weights of one canonical layer, as named tensors, turned into a provider at the end.
private struct LayerWeights {
    var weight: ONNXTensor
    var bias: ONNXTensor?
    /// Stored (in, out) (MatMul, Gemm without transB): transposed to (out, in) when read.
    var transposed = false
    var batchNorm: (scale: ONNXTensor, bias: ONNXTensor, mean: ONNXTensor, variance: ONNXTensor, epsilon: Double)?

    func provider(layer: String) -> WeightProvider {
        return { body in
            let bias = try self.bias?.floats()
            if batchNorm == nil && !transposed {
                return try weight.withWeights { w in
                    guard let bias else { return try body(w, nil) }
                    try bias.withUnsafeBufferPointer { try body(w, WeightSource($0)) }
                }
            }
            var w = try weight.floats()
            if transposed, weight.dims.count == 2 {
                let (inputs, outputs) = (weight.dims[0], weight.dims[1])
                var t = [Float](repeating: 0, count: w.count)
                for k in 0..<inputs { for n in 0..<outputs { t[n * inputs + k] = w[k * outputs + n] } }
                w = t
            }
            var b = bias
            if let bn = batchNorm {
                let p = BatchNormParameters(gamma: try bn.scale.floats(), beta: try bn.bias.floats(), mean: try bn.mean.floats(),
                                            variance: try bn.variance.floats(), epsilon: bn.epsilon)
                b = try w.withUnsafeMutableBufferPointer { try BatchNormFolding.fold(weights: $0, bias: bias, batchNorm: p, layer: layer) }
            }
            try w.withUnsafeBufferPointer { wp in
                guard let b else { return try body(WeightSource(wp), nil) }
                try b.withUnsafeBufferPointer { try body(WeightSource(wp), WeightSource($0)) }
            }
        }
    }
}

private struct ONNXChainBuilder {
    let graph: ONNXGraph
    let path: String
    /// Initializers and Constant outputs by name, with Identity aliases of them resolved.
    var constants: [String: ONNXTensor] = [:]
    /// Nodes reading each value (any input position), by node index.
    var readers: [String: [Int]] = [:]
    var visited = Set<Int>()

    var net: CanonicalNetwork
    var weights: [LayerWeights?] = []
    var channels = 3, height = 0, width = 0
    /// After Flatten/Reshape: the map is a vector of channels·height·width values in (c, h, w) order.
    var flattened = false
    var block = 1, convInBlock = 0, fcCount = 0
    var batchNormCount = 0, skipped: [String] = []

    init(graph: ONNXGraph, path: String) throws {
        self.graph = graph
        self.path = path
        let file = path.split(separator: "/").last.map(String.init) ?? path
        net = CanonicalNetwork(name: file.hasSuffix(".onnx") ? String(file.dropLast(5)) : file)
        for n in graph.nodes {
            if !n.domain.isEmpty && n.domain != "ai.onnx" {
                throw ConvertError("\(n.label) is in domain '\(n.domain)'; only standard ONNX ops (Conv, Relu, MaxPool, BatchNormalization, Gemm, …) are supported")
            }
            if !ONNXImporter.supportedOps.contains(n.opType) {
                throw ConvertError("\(n.label): op '\(n.opType)' is not supported (a plain VGG chain: \(ONNXImporter.supportedOps.sorted().joined(separator: ", ")))")
            }
            for (k, v) in n.inputs.enumerated() where !v.isEmpty && (k == 0 || !readers[v, default: []].contains(n.index)) {
                readers[v, default: []].append(n.index)
            }
        }
        constants = graph.initializers
        // Constants and Identity aliases of constants (the exporter writes one initializer for
        // equal tensors and Identity nodes for the others); aliases may chain, in any order.
        for n in graph.nodes where n.opType == "Constant" {
            guard n.outputs.count == 1, case let .tensor(t)? = n.attributes["value"] else {
                throw ConvertError("\(n.label): only a Constant with a 'value' tensor is supported")
            }
            constants[n.outputs[0]] = t
            visited.insert(n.index)
        }
        var changed = true
        while changed {
            changed = false
            for n in graph.nodes where n.opType == "Identity" && !visited.contains(n.index) {
                guard n.inputs.count == 1, n.outputs.count == 1, let t = constants[n.inputs[0]] else { continue }
                constants[n.outputs[0]] = t
                visited.insert(n.index)
                changed = true
            }
        }
    }

    func constant(_ node: ONNXNode, _ k: Int, _ what: String) throws -> ONNXTensor? {
        guard k < node.inputs.count, !node.inputs[k].isEmpty else { return nil }
        guard let t = constants[node.inputs[k]] else {
            throw ConvertError("\(node.label): its \(what) '\(node.inputs[k])' is not an initializer; only weights stored in the file are supported")
        }
        return t
    }

    func required(_ node: ONNXNode, _ k: Int, _ what: String) throws -> ONNXTensor {
        guard let t = try constant(node, k, what) else { throw ConvertError("\(node.label) has no \(what) input") }
        return t
    }

    /// The node's one data output; other outputs (Dropout's mask, MaxPool's indices, …) must be unused.
    func dataOutput(_ node: ONNXNode) throws -> String {
        guard let out = node.outputs.first, !out.isEmpty else { throw ConvertError("\(node.label) has no output") }
        for extra in node.outputs.dropFirst() where !extra.isEmpty && readers[extra] != nil {
            throw ConvertError("\(node.label): its output '\(extra)' is used; only the first output of a \(node.opType) is supported")
        }
        return out
    }

    /// The source name of a layer: the weight's module path (`features.0` of `features.0.weight`)
    /// or the node's (`features.4` of `/features/features.4/MaxPool`, or a hand-given node name),
    /// "" when neither says one.
    static func sourceName(weight: String?, node: ONNXNode) -> String {
        if let w = weight, w.hasSuffix(".weight"), !w.hasPrefix("onnx::") { return String(w.dropLast(7)) }
        let parts = node.name.split(separator: "/")
        if node.name.hasPrefix("/"), parts.count >= 2 { return String(parts[parts.count - 2]) }
        // A name a person gave (conv1_1, features_4), not one an exporter numbered (node_Conv_4, MaxPool_3).
        if node.name.hasPrefix("node_") || node.name.hasPrefix(node.opType + "_") || node.name.contains("/") { return "" }
        return node.name
    }

    /// Symmetric pads [top, left, bottom, right] as (h, w).
    func symmetricPads(_ node: ONNXNode) throws -> (Int, Int) {
        if let autoPad = try node.string("auto_pad"), autoPad != "NOTSET", autoPad != "VALID" {
            throw ConvertError("\(node.label): auto_pad '\(autoPad)' is not supported (give explicit pads)")
        }
        guard let p = try node.ints("pads") else { return (0, 0) }
        guard p.count == 4, p[0] == p[2], p[1] == p[3], p[0] >= 0, p[1] >= 0 else {
            throw ConvertError("\(node.label): pads \(p) must be 2-D and equal at both ends (top = bottom, left = right)")
        }
        return (p[0], p[1])
    }

    func pair(_ node: ONNXNode, _ key: String, default d: Int) throws -> (Int, Int) {
        guard let v = try node.ints(key) else { return (d, d) }
        guard v.count == 2 else { throw ConvertError("\(node.label): '\(key)' \(v) should have 2 values (a 2-D op)") }
        return (v[0], v[1])
    }

    mutating func append(_ layer: CanonicalLayer, _ w: LayerWeights?) {
        var l = layer
        // Aliases stay unique and distinct from every canonical name.
        if l.alias.utf8.count > Int(VGGFile.maxLayerNameLength) || net.layers.contains(where: { $0.alias == l.alias || $0.name == l.alias })
            || l.alias == l.name || LayerNames.kerasAlias(ofCaffe: l.alias) != "" {
            l.alias = ""
        }
        net.layers.append(l)
        weights.append(w)
    }

    mutating func build(inputSize: Int?) throws -> CanonicalNetwork {
        let dataInputs = graph.inputs.filter { constants[$0.name] == nil }
        guard dataInputs.count == 1, let input = dataInputs.first else {
            throw ConvertError("'\(path)': expected one image input, found \(dataInputs.count) graph inputs that are not initializers (\(dataInputs.map(\.name).joined(separator: ", ")))")
        }
        (height, width) = (224, 224)
        if let d = input.dims {
            guard d.count == 4 else { throw ConvertError("'\(path)': input '\(input.name)' has \(d.count) dimensions; expected (N, 3, H, W)") }
            if let c = d[1], c != 3 { throw ConvertError("'\(path)': input '\(input.name)' has \(c) channels; expected 3 (an image)") }
            if let h = d[2], let w = d[3], h > 0, w > 0 {
                guard h <= 65536, w <= 65536 else { throw ConvertError("'\(path)': input '\(input.name)' is \(h)×\(w); expected an image size up to 65536") }
                (height, width) = (h, w)
                net.notes.append("training input size \(h)×\(w) taken from the input '\(input.name)'")
            }
        }
        if let s = inputSize { (height, width) = (s, s) }
        (net.inputHeight, net.inputWidth) = (height, width)

        var value = input.name
        var finished = false
        while let users = readers[value], !users.isEmpty {
            guard users.count == 1, let index = users.first, graph.nodes.indices.contains(index) else {
                let names = users.compactMap { graph.nodes.indices.contains($0) ? graph.nodes[$0].label : nil }
                throw ConvertError("'\(value)' is read by \(users.count) nodes (\(names.joined(separator: ", "))); only a plain chain (VGG) is supported")
            }
            let node = graph.nodes[index]
            guard node.inputs.first == value else {
                throw ConvertError("\(node.label) reads '\(value)' as a weight; only a plain chain (VGG) is supported")
            }
            if visited.contains(index) { throw ConvertError("\(node.label) is reached twice: the graph has a cycle") }
            if finished { throw ConvertError("\(node.label) follows the Softmax; only a chain ending in Softmax is supported") }
            visited.insert(index)
            value = try step(node, finished: &finished)
        }
        if !graph.outputs.isEmpty, !graph.outputs.contains(where: { $0.name == value }) {
            throw ConvertError("the chain from '\(input.name)' ends at '\(value)', which is not a graph output (\(graph.outputs.map(\.name).joined(separator: ", ")))")
        }
        if let stray = graph.nodes.first(where: { !visited.contains($0.index) }) {
            throw ConvertError("\(stray.label) is not on the chain from '\(input.name)' to '\(value)'; only a plain chain (VGG) is supported")
        }
        if net.layers.isEmpty { throw ConvertError("'\(path)': the graph has no Conv nodes") }
        if net.layers.count > VGGFile.maxLayers { throw ConvertError("\(net.layers.count) layers; the format allows \(VGGFile.maxLayers)") }
        for i in net.layers.indices { net.layers[i].weights = weights[i]?.provider(layer: net.layers[i].name) }

        if batchNormCount > 0 { net.notes.append("folded \(batchNormCount) BatchNormalization nodes into their convolutions") }
        if !skipped.isEmpty { net.notes.append("skipped as the identity at \(net.inputHeight)×\(net.inputWidth): \(skipped.joined(separator: ", "))") }
        // An ONNX file does not say how its input is normalised: torchvision's names imply torchvision's.
        let aliases = net.layers.filter { $0.kind == .convolution }.map(\.alias)
        if aliases.first?.hasPrefix("features.") == true,
           aliases.allSatisfy({ $0.hasPrefix("features.") || $0.hasPrefix("classifier.") || $0.hasPrefix("pre_logits.") || $0.hasPrefix("head.") }) {
            net.channelOrder = TorchVisionNames.channelOrder
            net.mean = TorchVisionNames.mean
            net.scale = TorchVisionNames.scale
            net.notes.append("the initializers have torchvision's names: preprocessing recorded as torchvision's (RGB, mean (0.485, 0.456, 0.406)·255, scale 1/((0.229, 0.224, 0.225)·255)); override with --channel-order/--mean/--scale")
        } else {
            net.notes.append("an ONNX file does not record its preprocessing: kept the default (BGR, mean 103.939,116.779,123.68, scale 1); pass --channel-order, --mean and --scale if the model was trained otherwise")
        }
        return net
    }

    /// Applies one node of the chain; returns the value the chain continues with.
    mutating func step(_ node: ONNXNode, finished: inout Bool) throws -> String {
        let spatial = "\(height)×\(width)"
        switch node.opType {
        case "Conv":
            if flattened { throw ConvertError("\(node.label): a convolution after Flatten/Reshape is not supported") }
            let w = try required(node, 1, "weight")
            let bias = try constant(node, 2, "bias")
            guard w.dims.count == 4 else { throw ConvertError("\(node.label): weight '\(w.name)' has shape \(w.dims); expected (out, in, kh, kw)") }
            let (outC, inC, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3])
            if inC != channels { throw ConvertError("\(node.label): weight '\(w.name)' \(w.dims) expects \(inC) input channels, the chain has \(channels)") }
            if outC < 1 || outC > Int(VGGFile.maxChannels) { throw ConvertError("\(node.label): \(outC) output channels; expected 1…\(VGGFile.maxChannels)") }
            if let k = try node.ints("kernel_shape"), k != [kh, kw] { throw ConvertError("\(node.label): kernel_shape \(k) disagrees with the weight's \(kh)×\(kw)") }
            if try node.int("group", default: 1) != 1 { throw ConvertError("\(node.label): grouped convolution is not supported") }
            if try pair(node, "dilations", default: 1) != (1, 1) { throw ConvertError("\(node.label): dilated convolution is not supported") }
            let stride = try pair(node, "strides", default: 1)
            let pad = try symmetricPads(node)
            try checkWindow(node, kernel: (kh, kw), stride: stride, pad: pad)
            if let b = bias, b.dims != [outC] { throw ConvertError("\(node.label): bias '\(b.name)' has shape \(b.dims); expected [\(outC)]") }
            guard let h = windowOutput(height, kernel: kh, stride: stride.0, pad: pad.0, pool: nil),
                  let wd = windowOutput(width, kernel: kw, stride: stride.1, pad: pad.1, pool: nil) else {
                throw ConvertError("\(node.label): its \(kh)×\(kw) kernel does not fit the \(spatial) map at the training input size \(net.inputHeight)×\(net.inputWidth) (see --input-size)")
            }
            // A convolution over the whole map (timm's pre_logits.fc1, 7×7 over pool5), and any
            // after it, is a fully connected layer run convolutionally: fc6, fc7, …
            let isFullyConnected = fcCount > 0 || (kh == height && kw == width && kh > 1 && pad == (0, 0))
            var l: CanonicalLayer
            if isFullyConnected {
                l = CanonicalLayer(kind: .convolution, name: "fc\(6 + fcCount)")
                l.fromInnerProduct = true
                fcCount += 1
            } else {
                convInBlock += 1
                l = CanonicalLayer(kind: .convolution, name: "conv\(block)_\(convInBlock)")
            }
            l.alias = Self.sourceName(weight: w.name, node: node)
            (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (channels, outC, kh, kw)
            (l.strideH, l.strideW, l.padH, l.padW) = (stride.0, stride.1, pad.0, pad.1)
            l.hasBias = bias != nil
            append(l, LayerWeights(weight: w, bias: bias))
            (height, width, channels) = (h, wd, outC)
        case "BatchNormalization":
            guard let last = net.layers.last, last.kind == .convolution, !last.relu, !last.fromInnerProduct,
                  let lw = weights.last, let lastWeights = lw, lastWeights.batchNorm == nil, !flattened else {
                throw ConvertError("\(node.label) does not directly follow a Conv; only BatchNormalization after a convolution is folded")
            }
            if try node.int("training_mode", default: 0) != 0 { throw ConvertError("\(node.label): training_mode 1 is not supported (export in eval mode)") }
            if try node.int("spatial", default: 1) != 1 { throw ConvertError("\(node.label): spatial 0 (per-activation BatchNorm) is not supported") }
            let epsilon = Double(try node.float("epsilon", default: 1e-5))
            let parts = try (1...4).map { try required(node, $0, ["scale", "bias", "mean", "variance"][$0 - 1]) }
            for t in parts where t.dims != [channels] {
                throw ConvertError("\(node.label): '\(t.name)' has shape \(t.dims); expected [\(channels)]")
            }
            var folded = lastWeights
            folded.batchNorm = (parts[0], parts[1], parts[2], parts[3], epsilon)
            weights[weights.count - 1] = folded
            net.layers[net.layers.count - 1].hasBias = true
            batchNormCount += 1
        case "Relu":
            guard let last = net.layers.last, last.kind == .convolution, !last.relu else {
                throw ConvertError("\(node.label) does not follow a Conv or fully connected layer; only that placement is supported")
            }
            net.layers[net.layers.count - 1].relu = true
        case "MaxPool":
            if flattened { throw ConvertError("\(node.label): pooling after Flatten/Reshape is not supported") }
            guard let k = try node.ints("kernel_shape"), k.count == 2 else { throw ConvertError("\(node.label): kernel_shape must give 2 values") }
            if try pair(node, "dilations", default: 1) != (1, 1) { throw ConvertError("\(node.label): dilated pooling is not supported") }
            if try node.int("storage_order", default: 0) != 0 { throw ConvertError("\(node.label): storage_order 1 is not supported") }
            let stride = try pair(node, "strides", default: 1)
            let pad = try symmetricPads(node)
            try checkWindow(node, kernel: (k[0], k[1]), stride: stride, pad: pad)
            let rounding: PoolRounding = try node.int("ceil_mode", default: 0) != 0 ? .ceil : .floor
            guard let h = windowOutput(height, kernel: k[0], stride: stride.0, pad: pad.0, pool: rounding),
                  let wd = windowOutput(width, kernel: k[1], stride: stride.1, pad: pad.1, pool: rounding) else {
                throw ConvertError("\(node.label): its \(k[0])×\(k[1]) window does not fit the \(spatial) map at the training input size \(net.inputHeight)×\(net.inputWidth) (see --input-size)")
            }
            var l = CanonicalLayer(kind: .maxPool, name: "pool\(block)")
            l.alias = Self.sourceName(weight: nil, node: node)
            (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (channels, channels, k[0], k[1])
            (l.strideH, l.strideW, l.padH, l.padW) = (stride.0, stride.1, pad.0, pad.1)
            l.rounding = rounding
            append(l, nil)
            (height, width) = (h, wd)
            block += 1
            convInBlock = 0
        case "AveragePool":
            // torchvision's AdaptiveAvgPool2d((7, 7)) on a 7×7 map exports as a 1×1 window.
            let k = try node.ints("kernel_shape") ?? []
            let stride = try pair(node, "strides", default: 1)
            let pad = try symmetricPads(node)
            let identity = (k == [1, 1] && stride == (1, 1) && pad == (0, 0)) || (k == [height, width] && height == 1 && width == 1 && pad == (0, 0))
            guard identity, !flattened else {
                throw ConvertError("\(node.label): kernel \(k), strides \(stride), pads \(pad) on the \(spatial) map is not the identity at the training input size; only identity average pools (torchvision's adaptive pool at its size) are supported")
            }
            skipped.append(node.label)
        case "GlobalAveragePool":
            guard height == 1, width == 1 else {
                throw ConvertError("\(node.label) averages a \(spatial) map at the training input size \(net.inputHeight)×\(net.inputWidth); only a global pool over a 1×1 map (the identity) is supported")
            }
            skipped.append(node.label)
        case "ReduceMean":
            // The dynamo exporter's global average pool (timm's head): the identity over a 1×1 map.
            let axes = try constant(node, 1, "axes")?.integers() ?? node.ints("axes").map { $0.map(Int64.init) } ?? []
            let keepDims = try node.int("keepdims", default: 1) != 0
            guard !flattened, Set(axes.map { $0 < 0 ? $0 + 4 : $0 }) == [2, 3], height == 1, width == 1 else {
                throw ConvertError("\(node.label): a mean over axes \(axes) of the \(spatial) map at the training input size is not the identity; only a spatial mean over a 1×1 map is supported")
            }
            if !keepDims { flattened = true }
            skipped.append(node.label)
        case "Flatten":
            let axis = try node.int("axis", default: 1)
            guard axis == 1 || (axis == -3 && !flattened) else { throw ConvertError("\(node.label): axis \(axis) is not supported (expected 1: keep the batch)") }
            flattened = true
        case "Reshape":
            let shape = try required(node, 1, "shape").integers()
            let allowZero = try node.int("allowzero", default: 0) != 0
            let size = Int64(channels * height * width)
            let batchOK: Bool = shape.count == 2 && (shape[0] == 1 || (shape[0] == 0 && !allowZero) || (shape[0] == -1 && shape[1] == size))
            guard batchOK, shape[1] == -1 || shape[1] == size else {
                throw ConvertError("\(node.label): shape \(shape) is not a flatten of the (N, \(channels), \(height), \(width)) map; only (1, -1) or (N, \(size)) is supported")
            }
            flattened = true
        case "Gemm", "MatMul":
            return try fullyConnected(node)
        case "Dropout", "Identity":
            break
        case "Softmax":
            finished = true
        default:
            throw ConvertError("\(node.label): op '\(node.opType)' is not supported on the chain")
        }
        return try dataOutput(node)
    }

    /// Gemm (A·Bᵀ + C with transB 1, or A·B + C) or MatMul and an Add of a bias: a fully
    /// connected layer as a convolution over the map (fc6 over pool5 in (c, h, w) order, the others 1×1).
    mutating func fullyConnected(_ node: ONNXNode) throws -> String {
        guard flattened || (height == 1 && width == 1 && net.layers.last?.fromInnerProduct == true) else {
            throw ConvertError("\(node.label) gets the \(channels)×\(height)×\(width) map, not a flattened vector; a Flatten or Reshape must come first")
        }
        let w = try required(node, 1, "weight")
        var bias: ONNXTensor?
        var transposed = node.opType == "MatMul"
        var output = try dataOutput(node)
        if node.opType == "Gemm" {
            if try node.int("transA", default: 0) != 0 { throw ConvertError("\(node.label): transA 1 is not supported") }
            let alpha = try node.float("alpha", default: 1), beta = try node.float("beta", default: 1)
            transposed = try node.int("transB", default: 0) == 0
            bias = try constant(node, 2, "bias")
            guard alpha == 1, beta == 1 || bias == nil else {
                throw ConvertError("\(node.label): alpha \(alpha) and beta \(beta) are not supported (expected 1 and 1)")
            }
        } else if let users = readers[output], users.count == 1, let i = users.first, graph.nodes.indices.contains(i),
                  graph.nodes[i].opType == "Add" {
            // MatMul then Add(x, bias) or Add(bias, x).
            let add = graph.nodes[i]
            guard add.inputs.count == 2, let k = add.inputs.firstIndex(where: { $0 != output }), let b = constants[add.inputs[k]] else {
                throw ConvertError("\(add.label) does not add an initializer bias to '\(output)'")
            }
            bias = b
            visited.insert(i)
            output = try dataOutput(add)
        }
        guard w.dims.count == 2 else { throw ConvertError("\(node.label): weight '\(w.name)' has shape \(w.dims); expected 2 dimensions") }
        let (outputs, inputs) = transposed ? (w.dims[1], w.dims[0]) : (w.dims[0], w.dims[1])
        let size = channels * height * width
        guard inputs == size else {
            var hint = ""
            if fcCount == 0, inputs % channels == 0 {
                let s = Int(Double(inputs / channels).squareRoot().rounded())
                if s * s * channels == inputs { hint = " The weight takes \(channels) channels × \(s)×\(s): pass --input-size \(s * net.inputHeight / max(height, 1))." }
            }
            throw ConvertError("\(node.label): weight '\(w.name)' \(w.dims) takes \(inputs) inputs, the \(channels)×\(height)×\(width) map at the training input size \(net.inputHeight)×\(net.inputWidth) has \(size).\(hint)")
        }
        if outputs < 1 || outputs > Int(VGGFile.maxChannels) { throw ConvertError("\(node.label): \(outputs) outputs; expected 1…\(VGGFile.maxChannels)") }
        if let b = bias, b.elementCount != outputs || !(b.dims == [outputs] || b.dims == [1, outputs]) {
            throw ConvertError("\(node.label): bias '\(b.name)' has shape \(b.dims); expected [\(outputs)]")
        }
        if height > Int(VGGFile.maxKernel) || width > Int(VGGFile.maxKernel) {
            throw ConvertError("\(node.label): a fully connected layer over a \(height)×\(width) map is too large a kernel (at most \(VGGFile.maxKernel))")
        }
        var l = CanonicalLayer(kind: .convolution, name: "fc\(6 + fcCount)")
        l.alias = Self.sourceName(weight: w.name, node: node)
        l.fromInnerProduct = true
        (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (channels, outputs, height, width)
        l.hasBias = bias != nil
        append(l, LayerWeights(weight: w, bias: bias, transposed: transposed))
        fcCount += 1
        (height, width, channels) = (1, 1, outputs)
        return output
    }

    func checkWindow(_ node: ONNXNode, kernel k: (Int, Int), stride s: (Int, Int), pad p: (Int, Int)) throws {
        for (v, what) in [(k.0, "kernel height"), (k.1, "kernel width")] where v < 1 || v > Int(VGGFile.maxKernel) {
            throw ConvertError("\(node.label): \(what) must be in 1…\(VGGFile.maxKernel), found \(v)")
        }
        for (v, what) in [(s.0, "stride height"), (s.1, "stride width")] where v < 1 || v > Int(VGGFile.maxStride) {
            throw ConvertError("\(node.label): \(what) must be in 1…\(VGGFile.maxStride), found \(v)")
        }
        if p.0 >= k.0 || p.1 >= k.1 {
            throw ConvertError("\(node.label): padding \(p.0)×\(p.1) must be smaller than the kernel \(k.0)×\(k.1)")
        }
    }
}
