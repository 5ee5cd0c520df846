// `vgg heatmap`: where the network sees a class — the fully convolutional class score map,
// soft-maxed per location, upsampled to the image and blended over it with a colour bar.
import ArgumentParser
import Glibc
import VGGEngine

struct HeatmapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heatmap",
        abstract: "Draw the class probability map of an image as a PNG overlay.",
        discussion: """
        The image is resized so its smaller side is --size (default 384: VGG16 then yields a \
        6×6 or larger score map), run fully convolutionally, the class scores are soft-maxed \
        at every location, and the probability of one class (--class N, or the most probable \
        class of the whole image) is upsampled bilinearly to the image, coloured with the \
        viridis map (dark blue 0 → yellow 1) and blended over it. A colour bar runs along the \
        right edge. The PNG has the input image's size.

        Examples:
          vgg heatmap -m vgg16.vgg dog.jpg -o dog-heat.png
          vgg heatmap -m vgg16.vgg dog.jpg --class 207 --size 512 -o golden.png

        Exit status: 0 success, 1 failure, 64 usage error.
        """
    )

    @Option(name: .shortAndLong, help: "The .vgg model.")
    var model: String

    @Argument(help: "A JPEG or PNG image.")
    var image: String

    @Option(name: .customLong("class"), help: "Class index to show (default: the image's top class).")
    var classIndex: Int?

    @Option(help: "Smaller side the image is resized to before the run.")
    var size = 384

    @Option(help: "Overlay opacity, 0…1.")
    var alpha: Double = 0.55

    @Option(name: .shortAndLong, help: "Output PNG.")
    var output: String

    @Option(help: "Threads per run (default: all cores).")
    var threads: Int?

    @OptionGroup var limits: ImageLimits

    func run() throws {
        guard size >= 1 && size <= Session.maxSide else { throw ValidationError("--size must be in 1…65536") }
        guard alpha >= 0 && alpha <= 1 else { throw ValidationError("--alpha must be in 0…1") }
        let m = try openModel(model, verify: false)
        guard m.classCount > 0 else {
            fputs("vgg: model '\(m.name)' has no classifier; a heatmap needs class scores\n", stderr)
            throw ExitCode(1)
        }
        if let c = classIndex, c < 0 || c >= m.classCount {
            throw ValidationError("--class must be in 0…\(m.classCount - 1), found \(c)")
        }
        let session = try makeSession(m, threads: threads)
        do {
            let img = try loadImage(image, maxPixels: limits.maxPixels)
            // Every size derived from the image is checked before anything of that size is allocated.
            let (h, w) = try resizedSize(img, smallerSide: size, maxPixels: limits.maxPixels)
            let shape = try session.outputShape(height: h, width: w)
            let scores = try FloatStorage(count: shape.count, for: "the \(shape.channels)×\(shape.height)×\(shape.width) score map")
            do {
                let input = try preprocessed(img, session: session, height: h, width: w)
                _ = try session.forward(input: input.pointer, n: 1, height: h, width: w, output: scores.pointer, capacity: scores.buffer.count)
            }
            let chosen = probabilityMap(scores.buffer, shape: shape, classIndex: classIndex)
            let plane = shape.height * shape.width
            let map = UnsafeBufferPointer(rebasing: scores.buffer[(chosen * plane)..<((chosen + 1) * plane)])
            overlay(img, map: map, mapHeight: shape.height, mapWidth: shape.width)
            // A file-size limit must give a clean error (EFBIG), not kill the process mid-write.
            signal(SIGXFSZ, SIG_IGN)
            try writePNG(output, img)
            let name = m.labels.isEmpty ? "class \(chosen)" : m.labels[chosen]
            print("wrote \(output): \(img.width)×\(img.height), \(name), \(shape.height)×\(shape.width) score map, peak p = \(formatProbability(map.max() ?? 0))")
        } catch let e as ExitCode {
            throw e
        } catch {
            fputs("vgg: \(describe(error))\n", stderr)
            throw ExitCode(1)
        }
    }

    /// Per-location soft-max of the K×h×w scores, in place; returns `classIndex` (or the
    /// class with the highest mean probability).
    func probabilityMap(_ probs: UnsafeMutableBufferPointer<Float>, shape: ActivationShape, classIndex: Int?) -> Int {
        let k = shape.channels, plane = shape.height * shape.width
        for p in 0..<plane {
            var top = -Float.infinity
            for c in 0..<k { top = max(top, probs[c * plane + p]) }
            var sum: Double = 0
            for c in 0..<k {
                let e = exp(Double(probs[c * plane + p] - top))
                probs[c * plane + p] = Float(e)
                sum += e
            }
            for c in 0..<k { probs[c * plane + p] = Float(Double(probs[c * plane + p]) / sum) }
        }
        return classIndex ?? (0..<k).max { a, b in
            probs[(a * plane)..<((a + 1) * plane)].reduce(0, +) < probs[(b * plane)..<((b + 1) * plane)].reduce(0, +)
        } ?? 0
    }

    /// Blends the upsampled map (and a colour bar) over the image, in place.
    func overlay(_ img: RGBImage, map: UnsafeBufferPointer<Float>, mapHeight mh: Int, mapWidth mw: Int) {
        let pixels = img.pixels
        let bar = max(6, img.width / 40), margin = max(2, bar / 3)
        for y in 0..<img.height {
            // Map cell centres are spread evenly over the image (pixel-centre aligned).
            let sy = min(max((Double(y) + 0.5) * Double(mh) / Double(img.height) - 0.5, 0), Double(mh - 1))
            let y0 = Int(sy), y1 = min(y0 + 1, mh - 1), fy = sy - Double(y0)
            for x in 0..<img.width {
                let i = (y * img.width + x) * 3
                var v: Double
                let inBar = x >= img.width - bar - margin && x < img.width - margin && y >= margin && y < img.height - margin
                if inBar {
                    v = 1 - Double(y - margin) / Double(max(1, img.height - 2 * margin - 1))
                } else {
                    let sx = min(max((Double(x) + 0.5) * Double(mw) / Double(img.width) - 0.5, 0), Double(mw - 1))
                    let x0 = Int(sx), x1 = min(x0 + 1, mw - 1), fx = sx - Double(x0)
                    let top = Double(map[y0 * mw + x0]) * (1 - fx) + Double(map[y0 * mw + x1]) * fx
                    let bottom = Double(map[y1 * mw + x0]) * (1 - fx) + Double(map[y1 * mw + x1]) * fx
                    v = top * (1 - fy) + bottom * fy
                }
                let color = viridis(v)
                let a = inBar ? 1.0 : alpha
                for c in 0..<3 {
                    pixels[i + c] = UInt8(max(0, min(255, (Double(pixels[i + c]) * (1 - a) + color[c] * a).rounded())))
                }
            }
        }
    }
}

/// The viridis colour map (matplotlib's perceptually uniform map), linear between 9 stops.
func viridis(_ t: Double) -> [Double] {
    let stops: [[Double]] = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
                             [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]]
    let x = min(max(t, 0), 1) * Double(stops.count - 1)
    let i = min(Int(x), stops.count - 2), f = x - Double(i)
    return (0..<3).map { stops[i][$0] * (1 - f) + stops[i + 1][$0] * f }
}
