// Naive reference kernels on plain CHW arrays, kept forever as the oracle for the fast
// paths (VGG_FORCE_REFERENCE=1 or the session option selects them). Written for clarity:
// one loop nest per operation, weights read element by element from the stored layout.
import Glibc
import VGGFormat

enum Reference {
    /// Weight (o, i, y, x) of a stored OBLOCK16 or OGROUP1024 tensor, as a float.
    static func weight(_ t: Tensor, _ o: Int, _ i: Int, _ y: Int, _ x: Int) -> Float {
        let O = Int(t.dims.0), I = Int(t.dims.1), KH = Int(t.dims.2), KW = Int(t.dims.3)
        let tap = (i * KH + y) * KW + x
        let index: Int
        if t.layout == .oGroup1024 {
            // Groups of 1024 outputs, tap after tap; the last group as wide as what is left (padded to 16).
            let group = o / 1024, padded = (O + 15) / 16 * 16
            let width = min(1024, padded - group * 1024)
            index = group * 1024 * I * KH * KW + tap * width + o % 1024
        } else {
            index = ((o / 16) * I * KH * KW + tap) * 16 + o % 16
        }
        switch t.dtype {
        case .f32: return t.data.load(fromByteOffset: index * 4, as: Float.self)
        case .f16: return floatFromF16(t.data.load(fromByteOffset: index * 2, as: UInt16.self))
        case .bf16: return floatFromBF16(t.data.load(fromByteOffset: index * 2, as: UInt16.self))
        }
    }

    static func run(model: Model, image: UnsafePointer<Float>, plan: ForwardPlan,
                    visit: (Int, ActivationShape, UnsafePointer<Float>) throws -> Void) throws {
        var current = Array(UnsafeBufferPointer(start: image, count: plan.input.count))
        var shape = plan.input
        for i in 0...plan.last {
            let l = model.layers[i]
            let out = plan.shapes[i]
            var next = [Float](repeating: 0, count: out.count)
            switch l.kind {
            case .convolution:
                guard let w = l.weight else { throw VGGError(.internal, "layer '\(l.name)' has no weight tensor") }
                convolution(l, w, current, shape, &next, out)
            case .maxPool, .averagePool:
                pooling(l, current, shape, &next, out)
            case .lrn:
                lrn(l, current, shape, &next)
            }
            current = next
            shape = out
            try current.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                try visit(i, shape, base)
            }
        }
    }

    static func convolution(_ l: Layer, _ w: Tensor, _ x: [Float], _ s: ActivationShape, _ y: inout [Float], _ o: ActivationShape) {
        for oc in 0..<o.channels {
            let b: Float = l.bias.map { $0.data.load(fromByteOffset: oc * 4, as: Float.self) } ?? 0
            for oy in 0..<o.height {
                for ox in 0..<o.width {
                    var sum: Float = 0
                    for ic in 0..<s.channels {
                        for ky in 0..<l.kernelH {
                            let iy = oy * l.strideH - l.padH + ky
                            if iy < 0 || iy >= s.height { continue }
                            for kx in 0..<l.kernelW {
                                let ix = ox * l.strideW - l.padW + kx
                                if ix < 0 || ix >= s.width { continue }
                                sum += x[(ic * s.height + iy) * s.width + ix] * weight(w, oc, ic, ky, kx)
                            }
                        }
                    }
                    let v = sum + b
                    y[(oc * o.height + oy) * o.width + ox] = l.relu ? max(v, 0) : v
                }
            }
        }
    }

    static func pooling(_ l: Layer, _ x: [Float], _ s: ActivationShape, _ y: inout [Float], _ o: ActivationShape) {
        for c in 0..<s.channels {
            for oy in 0..<o.height {
                for ox in 0..<o.width {
                    let hs = oy * l.strideH - l.padH, ws = ox * l.strideW - l.padW
                    let he = min(hs + l.kernelH, s.height + l.padH), we = min(ws + l.kernelW, s.width + l.padW)
                    let area = Float((he - hs) * (we - ws))
                    var acc: Float = l.kind == .maxPool ? -Float.greatestFiniteMagnitude : 0
                    for iy in max(hs, 0)..<max(max(hs, 0), min(he, s.height)) {
                        for ix in max(ws, 0)..<max(max(ws, 0), min(we, s.width)) {
                            let v = x[(c * s.height + iy) * s.width + ix]
                            acc = l.kind == .maxPool ? max(acc, v) : acc + v
                        }
                    }
                    y[(c * o.height + oy) * o.width + ox] = l.kind == .maxPool ? acc : acc / area
                }
            }
        }
    }

    static func lrn(_ l: Layer, _ x: [Float], _ s: ActivationShape, _ y: inout [Float]) {
        let plane = s.height * s.width, half = (l.lrnLocalSize - 1) / 2
        for c in 0..<s.channels {
            for p in 0..<plane {
                var sum: Float = 0
                for cc in max(0, c - half)...min(s.channels - 1, c + half) {
                    let v = x[cc * plane + p]
                    sum += v * v
                }
                y[c * plane + p] = x[c * plane + p] * pow(l.lrnK + l.lrnAlpha / Float(l.lrnLocalSize) * sum, -l.lrnBeta)
            }
        }
    }
}
