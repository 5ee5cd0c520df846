// Shapes through the network for a given input size: what every size query and run uses.
import VGGFormat

public struct ActivationShape: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var count: Int { channels * height * width }
}

public enum Planner {
    /// Output size of a window along one axis (VGGFormat's `windowOutput`), nil when it does not fit.
    @inline(__always)
    public static func window(_ input: Int, kernel: Int, stride: Int, pad: Int, pool: PoolRounding?) -> Int? {
        windowOutput(input, kernel: kernel, stride: stride, pad: pad, pool: pool)
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
