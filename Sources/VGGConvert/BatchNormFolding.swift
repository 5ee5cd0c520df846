// Folds an inference-mode BatchNorm into the convolution before it, in f64:
// w' = w·γ/√(var+ε), b' = (b−mean)·γ/√(var+ε) + β. Shared by every importer of files whose
// networks keep BatchNorm as a separate layer (torchvision/timm `_bn` models, ONNX).

/// The four per-channel tensors of a BatchNorm layer and its ε (torch and ONNX: 1e-5).
public struct BatchNormParameters {
    public var gamma: [Float]
    public var beta: [Float]
    public var mean: [Float]
    public var variance: [Float]
    public var epsilon: Double

    public init(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Double = 1e-5) {
        self.gamma = gamma
        self.beta = beta
        self.mean = mean
        self.variance = variance
        self.epsilon = epsilon
    }

    public var channels: Int { gamma.count }
}

public enum BatchNormFolding {
    /// Scales each output channel's weights (out-major: `weights.count / channels` values per
    /// output channel, e.g. OIHW) in place and returns the folded bias (a missing bias is 0).
    /// `layer` names the layer in error messages.
    public static func fold(weights: UnsafeMutableBufferPointer<Float>, bias: [Float]?, batchNorm bn: BatchNormParameters,
                            layer: String) throws -> [Float] {
        let channels = bn.channels
        for (values, what) in [(bn.beta, "beta (bias)"), (bn.mean, "running_mean"), (bn.variance, "running_var")]
        where values.count != channels {
            throw ConvertError("layer '\(layer)': BatchNorm \(what) has \(values.count) values, weight (gamma) has \(channels)")
        }
        if let bias, bias.count != channels {
            throw ConvertError("layer '\(layer)': the convolution has \(bias.count) biases but its BatchNorm \(channels) channels")
        }
        guard channels > 0, weights.count % channels == 0 else {
            throw ConvertError("layer '\(layer)': the convolution's \(weights.count) weights do not split into \(channels) output channels (its BatchNorm's size)")
        }
        guard bn.epsilon.isFinite, bn.epsilon >= 0 else {
            throw ConvertError("layer '\(layer)': BatchNorm epsilon must be finite and non-negative, found \(bn.epsilon)")
        }
        let perChannel = weights.count / channels
        var folded = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let variance = Double(bn.variance[c]) + bn.epsilon
            guard variance > 0, variance.isFinite else {
                throw ConvertError("layer '\(layer)': BatchNorm channel \(c) has running_var \(bn.variance[c]) + eps \(bn.epsilon) = \(variance); expected a positive finite value")
            }
            let factor = Double(bn.gamma[c]) / variance.squareRoot()
            let b = Double(bias?[c] ?? 0)
            folded[c] = Float((b - Double(bn.mean[c])) * factor + Double(bn.beta[c]))
            let start = c * perChannel
            for i in start..<(start + perChannel) { weights[i] = Float(Double(weights[i]) * factor) }
        }
        return folded
    }

    /// The same on arrays: returns the folded weights (same order) and bias.
    public static func fold(weights: [Float], bias: [Float]?, batchNorm: BatchNormParameters,
                            layer: String) throws -> (weights: [Float], bias: [Float]) {
        var w = weights
        let b = try w.withUnsafeMutableBufferPointer { try fold(weights: $0, bias: bias, batchNorm: batchNorm, layer: layer) }
        return (w, b)
    }
}
