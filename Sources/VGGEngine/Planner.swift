// Shapes through the network for a given input size: what every size query and run uses.
import VGGFormat

public struct ActivationShape: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var count: Int { channels * height * width }
}

public enum Planner {
    /// Output size of a window along one axis (docs/FORMAT.md), nil when the window does not fit.
    @inline(__always)
    public static func window(_ input: Int, kernel: Int, stride: Int, pad: Int, pool: PoolRounding?) -> Int? {
        let span = input + 2 * pad - kernel
        if span < 0 { return nil }
        guard let pool else { return span / stride + 1 }
        var out = (pool == .ceil ? (span + stride - 1) / stride : span / stride) + 1
        if pad > 0 && (out - 1) * stride >= input + pad { out -= 1 }
        return out
    }

    /// Shape after `layer` given its input shape, nil if the layer has no output at that size.
    static func output(of layer: Layer, input s: ActivationShape) -> ActivationShape? {
        switch layer.kind {
        case .convolution:
            guard let h = window(s.height, kernel: layer.kernelH, stride: layer.strideH, pad: layer.padH, pool: nil),
                  let w = window(s.width, kernel: layer.kernelW, stride: layer.strideW, pad: layer.padW, pool: nil) else { return nil }
            return ActivationShape(channels: layer.outChannels, height: h, width: w)
        case .maxPool, .averagePool:
            guard let h = window(s.height, kernel: layer.kernelH, stride: layer.strideH, pad: layer.padH, pool: layer.rounding),
                  let w = window(s.width, kernel: layer.kernelW, stride: layer.strideW, pad: layer.padW, pool: layer.rounding) else { return nil }
            return ActivationShape(channels: s.channels, height: h, width: w)
        case .lrn:
            return s
        }
    }

    /// Output shapes of layers 0...last for an input of height×width; throws `.inputTooSmall`
    /// naming the layer and the minimum size when some layer gets no output.
    public static func shapes(model: Model, height: Int, width: Int, through last: Int? = nil) throws -> [ActivationShape] {
        let end = last ?? (model.layers.count - 1)
        var s = ActivationShape(channels: model.inputChannels, height: height, width: width)
        var out = [ActivationShape]()
        out.reserveCapacity(end + 1)
        for i in 0...end {
            let l = model.layers[i]
            guard let next = output(of: l, input: s) else {
                let minimum = minimumInput(model: model, through: end)
                throw VGGError(.inputTooSmall, "input \(height)×\(width) is too small: layer '\(l.name)' (\(l.kernelH)×\(l.kernelW)) gets a \(s.height)×\(s.width) feature map; '\(model.layers[end].name)' needs an input of at least \(minimum)×\(minimum)")
            }
            s = next
            out.append(s)
        }
        return out
    }

    /// Output shape of the last layer (or nil when the input is too small).
    public static func outputShape(model: Model, height: Int, width: Int) -> ActivationShape? {
        (try? shapes(model: model, height: height, width: width))?.last
    }

    /// The smallest square side for which layers 0...last all have output.
    public static func minimumInput(model: Model, through last: Int) -> Int {
        func fits(_ side: Int) -> Bool {
            var s = ActivationShape(channels: model.inputChannels, height: side, width: side)
            for i in 0...last {
                guard let n = output(of: model.layers[i], input: s) else { return false }
                s = n
            }
            return true
        }
        // Output size is monotonic in the input size: binary search.
        var lo = 1, hi = 1
        while !fits(hi) {
            hi *= 2
            if hi > 1 << 20 { return hi }
        }
        while lo < hi {
            let mid = (lo + hi) / 2
            if fits(mid) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
