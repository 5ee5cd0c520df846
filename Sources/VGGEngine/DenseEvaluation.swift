// Classification from 8-bit pixels as the VGG paper evaluates: the image is rescaled
// isotropically so its smaller side is Q, for each requested Q (and optionally also flipped
// horizontally), run fully convolutionally, and the class posteriors are averaged.
//
// Resampling (documented in vgg.h): bilinear on the 0–255 values with pixel centres aligned
// (source x = (x + 0.5)·W_in/W_out − 0.5, clamped to [0, W_in − 1]; the same for y), no
// antialiasing; the output size is round(H·Q/min(H,W)) × round(W·Q/min(H,W)) with the
// smaller side exactly Q. Then network channel c = (pixel channel − mean[c]) · scale[c], in
// the model's channel order.
import Glibc
import VGGFormat

public enum PixelFormat: Int32, Sendable {
    case rgb = 0, bgr = 1
}

public struct ClassScore: Sendable {
    public let classIndex: Int
    public let probability: Float
}

extension Session {
    /// Resized size with the smaller side exactly q.
    public static func resizedSize(height: Int, width: Int, smallerSide q: Int) -> (height: Int, width: Int) {
        if height <= width {
            return (q, max(1, Int((Double(width) * Double(q) / Double(height)).rounded())))
        }
        return (max(1, Int((Double(height) * Double(q) / Double(width)).rounded())), q)
    }

    /// Bilinear resize of 8-bit interleaved pixels + the model's preprocessing, into CHW floats
    /// (3 × outHeight × outWidth at `dest`); the sampling is the one documented in vgg.h.
    public func preprocess(pixels: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int, format: PixelFormat,
                    outHeight: Int, outWidth: Int, flip: Bool, into dest: UnsafeMutablePointer<Float>) {
        // Source channel feeding each network channel.
        let networkIsBGR = model.channelOrder == .bgr
        let pixelIsBGR = format == .bgr
        let sourceChannel = networkIsBGR == pixelIsBGR ? [0, 1, 2] : [2, 1, 0]
        let sy = Double(height) / Double(outHeight), sx = Double(width) / Double(outWidth)
        var x0s = [Int](repeating: 0, count: outWidth), x1s = x0s, fxs = [Float](repeating: 0, count: outWidth)
        for x in 0..<outWidth {
            let srcX = min(max((Double(x) + 0.5) * sx - 0.5, 0), Double(width - 1))
            x0s[x] = Int(srcX)
            x1s[x] = min(x0s[x] + 1, width - 1)
            fxs[x] = Float(srcX - Double(x0s[x]))
        }
        let plane = outHeight * outWidth
        for y in 0..<outHeight {
            let srcY = min(max((Double(y) + 0.5) * sy - 0.5, 0), Double(height - 1))
            let y0 = Int(srcY), y1 = min(Int(srcY) + 1, height - 1)
            let fy = Float(srcY - Double(y0))
            let row0 = pixels + y0 * stride, row1 = pixels + y1 * stride
            for c in 0..<3 {
                let sc = sourceChannel[c]
                let mean = model.mean[c], scale = model.scale[c]
                let out = dest + c * plane + y * outWidth
                for x in 0..<outWidth {
                    let a = Float(row0[x0s[x] * 3 + sc]), b = Float(row0[x1s[x] * 3 + sc])
                    let d = Float(row1[x0s[x] * 3 + sc]), e = Float(row1[x1s[x] * 3 + sc])
                    let top = a + (b - a) * fxs[x], bottom = d + (e - d) * fxs[x]
                    let v = top + (bottom - top) * fy
                    out[flip ? outWidth - 1 - x : x] = (v - mean) * scale
                }
            }
        }
    }

    /// Dense multi-scale evaluation of one 8-bit image; returns the averaged posteriors (K).
    public func classify(pixels: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int, format: PixelFormat,
                         scales: [Int], flip: Bool) throws -> [Float] {
        try requireClassifier()
        if width < 1 || height < 1 || width > Session.maxSide || height > Session.maxSide {
            throw VGGError(.invalidArgument, "image size: expected width and height in 1…\(Session.maxSide), found \(width)×\(height)")
        }
        if stride < width * 3 {
            throw VGGError(.invalidArgument, "stride: expected at least 3 × width = \(width * 3) bytes, found \(stride)")
        }
        let qs = scales.isEmpty ? [min(model.inputHeight, model.inputWidth)] : scales
        for q in qs where q < 1 || q > Session.maxSide {
            throw VGGError(.invalidArgument, "scale: expected a smaller side in 1…\(Session.maxSide), found \(q)")
        }
        // Every derived size before any buffer grows: each scale's resized image must be an
        // input the model accepts (sides, the minimum size).
        var sizes = [(height: Int, width: Int)]()
        for q in qs {
            let (h, w) = Session.resizedSize(height: height, width: width, smallerSide: q)
            if h > Session.maxSide || w > Session.maxSide {
                throw VGGError(.invalidArgument, "scale \(q): the \(width)×\(height) image resized to smaller side \(q) is \(w)×\(h); expected sides of at most \(Session.maxSide)")
            }
            _ = try ForwardPlan(model: model, height: h, width: w, through: model.layers.count - 1)
            sizes.append((h, w))
        }
        let k = model.classCount
        var total = [Float](repeating: 0, count: k)
        var probs = [Float](repeating: 0, count: k)
        var runs = 0
        for (h, w) in sizes {
            // The run's workspace first: a size too large for memory fails before the resized
            // image is allocated and written.
            try reserveWorkspace(height: h, width: w)
            let image = try imageBuffer.reserve(3 * h * w)
            for flipped in flip ? [false, true] : [false] {
                preprocess(pixels: pixels, width: width, height: height, stride: stride, format: format,
                           outHeight: h, outWidth: w, flip: flipped, into: image)
                try probs.withUnsafeMutableBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    try probabilities(input: image, n: 1, height: h, width: w, output: base, capacity: k)
                }
                for c in 0..<k { total[c] += probs[c] }
                runs += 1
            }
        }
        return total.map { $0 / Float(runs) }
    }

    /// The `k` most probable classes, most probable first (ties: lower index first).
    public static func top(_ probabilities: [Float], _ k: Int) -> [ClassScore] {
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1) }
        return order.prefix(max(0, k)).map { ClassScore(classIndex: $0, probability: probabilities[$0]) }
    }
}
