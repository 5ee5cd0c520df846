// Turns the decoded Caffe layer records into the canonical network: checks the chain
// topology, parameters and blob shapes, fuses in-place ReLUs, drops Dropout/Softmax and input
// layers, and makes the InnerProduct layers convolutions (the first one over the feature map
// it saw at the training input size, the others 1×1).
import VGGFormat

private let inputLayerTypes: Set<String> = ["Data", "Input", "MemoryData", "ImageData", "HDF5Data", "DummyData", "WindowData"]
/// Layers that are the identity at inference, or training-only heads.
private let skippedLayerTypes: Set<String> = ["Dropout", "Softmax", "SoftmaxWithLoss", "Accuracy", "Silence"]

extension CaffeImporter {
    static func buildNetwork(records input: [CaffeLayerRecord], file: MappedFile, into net: inout CanonicalNetwork) throws {
        var records = input
        let types = Set(records.map(\.type))
        if types.isSubset(of: ["Convolution", "InnerProduct"] as Set) {
            records = inferStandardVGG(records)
            net.notes.append("the file holds only weight layers: inferred the standard VGG structure (ReLU after every conv/fc but the last, 2×2/2 max pooling after each convN_* block)")
        }
        var channels = 3, height = net.inputHeight, width = net.inputWidth
        var currentTop: String? = nil
        var sawClassifier = false
        var finished = false
        for r in records {
            if r.hasV0 { throw ConvertError("layer '\(r.name)': V0 layer definitions (before 2014) are not supported") }
            if inputLayerTypes.contains(r.type) { continue }
            if ["SoftmaxWithLoss", "Accuracy", "Silence"].contains(r.type) { continue }
            if finished { throw ConvertError("layer '\(r.name)' (\(r.type)) follows the Softmax output layer; only a plain chain ending in Softmax is supported") }
            // Chain topology: every layer reads the blob the previous one wrote.
            if let top = currentTop, let bottom = r.bottoms.first, bottom != top {
                throw ConvertError("layer '\(r.name)' reads blob '\(bottom)' but the previous layer wrote '\(top)'; only a plain chain of layers (VGG) is supported")
            }
            if r.bottoms.count > 1 {
                throw ConvertError("layer '\(r.name)' (\(r.type)) has \(r.bottoms.count) inputs; only single-input layers are supported")
            }
            if r.type == "Softmax" { finished = true }
            if skippedLayerTypes.contains(r.type) { currentTop = r.tops.first ?? currentTop; continue }
            let spatial = "\(height)×\(width)"
            switch r.type {
            case "Convolution":
                if sawClassifier { throw ConvertError("layer '\(r.name)': a convolution after an InnerProduct layer is not supported") }
                try checkConvolution(r)
                var l = CanonicalLayer(kind: .convolution, name: r.name)
                l.inChannels = channels
                l.outChannels = r.numOutput
                (l.kernelH, l.kernelW) = r.kernel
                (l.strideH, l.strideW) = r.stride
                (l.padH, l.padW) = r.pad
                l.hasBias = r.biasTerm
                try checkBlobs(r, weightCount: r.numOutput * channels * r.kernel.h * r.kernel.w,
                               expectedDims: [r.numOutput, channels, r.kernel.h, r.kernel.w])
                l.weights = weightProvider(file: file, record: r, outputs: r.numOutput, inputs: channels * r.kernel.h * r.kernel.w)
                guard let h = windowOutput(height, kernel: r.kernel.h, stride: r.stride.h, pad: r.pad.h, pool: nil),
                      let w = windowOutput(width, kernel: r.kernel.w, stride: r.stride.w, pad: r.pad.w, pool: nil) else {
                    throw ConvertError("layer '\(r.name)': its \(r.kernel.h)×\(r.kernel.w) kernel does not fit the \(spatial) feature map it gets at the training input size \(net.inputHeight)×\(net.inputWidth) (see --input-size)")
                }
                (height, width, channels) = (h, w, r.numOutput)
                l.alias = LayerNames.kerasAlias(ofCaffe: r.name)
                net.layers.append(l)
            case "InnerProduct":
                if r.axis != 1 { throw ConvertError("layer '\(r.name)': InnerProduct axis \(r.axis) is not supported (expected 1)") }
                if r.numOutput < 1 { throw ConvertError("layer '\(r.name)': num_output must be positive, found \(r.numOutput)") }
                let inputs = channels * height * width
                guard let blob = r.blobs.first else { throw ConvertError("layer '\(r.name)' (InnerProduct) has no weight blob") }
                if blob.count != r.numOutput * inputs {
                    var hint = ""
                    if !sawClassifier, blob.count % r.numOutput == 0 {
                        let k = blob.count / r.numOutput
                        hint = " The weight has \(k) columns"
                        if k % channels == 0 {
                            let s = Int(Double(k / channels).squareRoot().rounded())
                            if s * s * channels == k { hint += " = \(channels) channels × \(s)×\(s): the model was trained at a different input size; pass --input-size" }
                        }
                        hint += "."
                    }
                    throw ConvertError("layer '\(r.name)' weights: expected \(r.numOutput)×\(inputs) = \(r.numOutput * inputs) values (\(channels) channels × \(spatial) at training input \(net.inputHeight)×\(net.inputWidth)), found \(blob.count).\(hint)")
                }
                var l = CanonicalLayer(kind: .convolution, name: r.name)
                l.fromInnerProduct = true
                l.inChannels = channels
                l.outChannels = r.numOutput
                (l.kernelH, l.kernelW) = (height, width)
                l.hasBias = r.biasTerm
                try checkBlobs(r, weightCount: r.numOutput * inputs, expectedDims: nil)
                // Caffe flattens (c, h, w) row-major: column c·H·W + h·W + w, i.e. OIHW already.
                l.weights = weightProvider(file: file, record: r, outputs: r.numOutput, inputs: inputs)
                (height, width, channels) = (1, 1, r.numOutput)
                l.alias = LayerNames.kerasAlias(ofCaffe: r.name)
                net.layers.append(l)
                sawClassifier = true
            case "ReLU":
                if r.reluSlope != 0 { throw ConvertError("layer '\(r.name)': leaky ReLU (negative_slope \(r.reluSlope)) is not supported") }
                guard var last = net.layers.last, last.kind == .convolution, !last.relu else {
                    throw ConvertError("layer '\(r.name)' (ReLU) does not follow a convolution or InnerProduct layer; only that placement is supported")
                }
                last.relu = true
                net.layers[net.layers.count - 1] = last
            case "Pooling":
                if sawClassifier { throw ConvertError("layer '\(r.name)': pooling after an InnerProduct layer is not supported") }
                if r.globalPooling { throw ConvertError("layer '\(r.name)': global pooling is not supported") }
                guard r.poolMethod == 0 || r.poolMethod == 1 else {
                    throw ConvertError("layer '\(r.name)': pooling method \(r.poolMethod == 2 ? "STOCHASTIC" : String(r.poolMethod)) is not supported (MAX or AVE)")
                }
                try checkWindow(r, maxPadIsKernel: true)
                var l = CanonicalLayer(kind: r.poolMethod == 0 ? .maxPool : .averagePool, name: r.name)
                l.inChannels = channels
                l.outChannels = channels
                (l.kernelH, l.kernelW) = r.kernel
                (l.strideH, l.strideW) = r.stride
                (l.padH, l.padW) = r.pad
                l.rounding = r.roundMode
                guard let h = windowOutput(height, kernel: r.kernel.h, stride: r.stride.h, pad: r.pad.h, pool: r.roundMode),
                      let w = windowOutput(width, kernel: r.kernel.w, stride: r.stride.w, pad: r.pad.w, pool: r.roundMode) else {
                    throw ConvertError("layer '\(r.name)': its \(r.kernel.h)×\(r.kernel.w) window does not fit the \(spatial) feature map at the training input size (see --input-size)")
                }
                (height, width) = (h, w)
                l.alias = LayerNames.kerasAlias(ofCaffe: r.name)
                net.layers.append(l)
            case "LRN":
                if r.lrnRegion != 0 { throw ConvertError("layer '\(r.name)': LRN WITHIN_CHANNEL is not supported (ACROSS_CHANNELS only)") }
                if r.lrnSize < 1 || r.lrnSize > 255 || r.lrnSize % 2 == 0 {
                    throw ConvertError("layer '\(r.name)': LRN local_size must be odd and in 1…255, found \(r.lrnSize)")
                }
                if !r.lrnAlpha.isFinite || !r.lrnBeta.isFinite || !(r.lrnK > 0) {
                    throw ConvertError("layer '\(r.name)': LRN needs finite alpha and beta and k > 0, found \(r.lrnAlpha), \(r.lrnBeta), \(r.lrnK)")
                }
                var l = CanonicalLayer(kind: .lrn, name: r.name)
                l.inChannels = channels
                l.outChannels = channels
                l.lrnLocalSize = r.lrnSize
                (l.lrnAlpha, l.lrnBeta, l.lrnK) = (r.lrnAlpha, r.lrnBeta, r.lrnK)
                net.layers.append(l)
            default:
                throw ConvertError("layer '\(r.name)' has unsupported type '\(r.type)' (supported: Convolution, ReLU, Pooling, LRN, InnerProduct, Dropout, Softmax)")
            }
            currentTop = r.tops.first ?? currentTop
        }
        if net.layers.isEmpty { throw ConvertError("the file has no convolution layers") }
        if net.layers.count > VGGFile.maxLayers { throw ConvertError("\(net.layers.count) layers; the format allows \(VGGFile.maxLayers)") }
    }

    static func checkConvolution(_ r: CaffeLayerRecord) throws {
        if r.numOutput < 1 || r.numOutput > Int(VGGFile.maxChannels) {
            throw ConvertError("layer '\(r.name)': num_output must be in 1…\(VGGFile.maxChannels), found \(r.numOutput)")
        }
        if r.group != 1 { throw ConvertError("layer '\(r.name)': grouped convolution (group \(r.group)) is not supported") }
        if r.dilation != 1 { throw ConvertError("layer '\(r.name)': dilated convolution (dilation \(r.dilation)) is not supported") }
        if r.axis != 1 { throw ConvertError("layer '\(r.name)': convolution axis \(r.axis) is not supported") }
        try checkWindow(r, maxPadIsKernel: true)
    }

    static func checkWindow(_ r: CaffeLayerRecord, maxPadIsKernel: Bool) throws {
        let k = r.kernel, s = r.stride, p = r.pad
        for (v, what) in [(k.h, "kernel height"), (k.w, "kernel width")] where v < 1 || v > Int(VGGFile.maxKernel) {
            throw ConvertError("layer '\(r.name)': \(what) must be in 1…\(VGGFile.maxKernel), found \(v)")
        }
        for (v, what) in [(s.h, "stride height"), (s.w, "stride width")] where v < 1 || v > Int(VGGFile.maxStride) {
            throw ConvertError("layer '\(r.name)': \(what) must be in 1…\(VGGFile.maxStride), found \(v)")
        }
        if p.h < 0 || p.w < 0 || p.h >= k.h || p.w >= k.w {
            throw ConvertError("layer '\(r.name)': padding \(p.h)×\(p.w) must be smaller than the kernel \(k.h)×\(k.w)")
        }
    }

    /// Checks blob count and sizes against the layer: data length first, dims second.
    static func checkBlobs(_ r: CaffeLayerRecord, weightCount: Int, expectedDims: [Int]?) throws {
        let want = r.biasTerm ? 2 : 1
        if r.blobs.count != want {
            throw ConvertError("layer '\(r.name)': expected \(want) blobs (weights\(r.biasTerm ? " and bias" : "")), found \(r.blobs.count)")
        }
        let w = r.blobs[0]
        if w.count != weightCount {
            throw ConvertError("layer '\(r.name)' weights: expected \(weightCount) values\(expectedDims.map { " for shape \($0)" } ?? ""), found \(w.count)")
        }
        let product = w.dims.reduce(1) { $0.multipliedReportingOverflow(by: max(0, $1)).overflow ? -1 : $0 * max(0, $1) }
        if product != w.count {
            throw ConvertError("layer '\(r.name)' weights: blob dims \(w.dims) hold \(product) values but \(w.count) are stored")
        }
        if r.biasTerm {
            let b = r.blobs[1]
            if b.count != r.numOutput {
                throw ConvertError("layer '\(r.name)' bias: expected \(r.numOutput) values, found \(b.count)")
            }
            let bp = b.dims.reduce(1) { $0 * max(0, $1) }
            if bp != b.count { throw ConvertError("layer '\(r.name)' bias: blob dims \(b.dims) hold \(bp) values but \(b.count) are stored") }
        }
    }

    /// Adds the ReLU and pooling layers of the standard VGG design to a weights-only list:
    /// a 2×2/2 max pool (Caffe ceil rounding) after the last `convN_*` of each block N.
    static func inferStandardVGG(_ weights: [CaffeLayerRecord]) -> [CaffeLayerRecord] {
        func block(_ name: String) -> Int? {
            guard name.hasPrefix("conv"), let n = name.dropFirst(4).split(separator: "_").first else { return nil }
            return Int(n)
        }
        var out = [CaffeLayerRecord]()
        var top = "data"
        for (i, r) in weights.enumerated() {
            var layer = r
            layer.bottoms = [top]
            layer.tops = [r.name]
            top = r.name
            out.append(layer)
            let isLast = i == weights.count - 1
            if !isLast || r.type == "Convolution" {
                var relu = CaffeLayerRecord(name: "relu_" + r.name, type: "ReLU")
                relu.bottoms = [top]; relu.tops = [top]
                out.append(relu)
            }
            if r.type == "Convolution" {
                let next: CaffeLayerRecord? = isLast ? nil : weights[i + 1]
                let sameBlock = next.map { $0.type == "Convolution" && block($0.name) == block(r.name) } ?? false
                if !sameBlock {
                    let b = block(r.name).map(String.init) ?? String(i)
                    var pool = CaffeLayerRecord(name: "pool" + b, type: "Pooling")
                    pool.bottoms = [top]; pool.tops = ["pool" + b]
                    pool.kernel = (2, 2); pool.stride = (2, 2)
                    top = "pool" + b
                    out.append(pool)
                }
            }
        }
        return out
    }
}
