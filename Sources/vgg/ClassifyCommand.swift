// `vgg classify`: top-K classes of image files, with the paper's dense evaluation.
import ArgumentParser
import ClassLabels
import Glibc
import VGGEngine

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify JPEG/PNG images (files or directories).",
        discussion: """
        Each image is resized so its smaller side is Q for every scale Q (default: the model's \
        training size), run fully convolutionally, and the class posteriors are averaged over \
        scales (and the horizontal flip with --flip): the VGG paper's dense evaluation. \
        With --center-crop C the central C×C square of the image resized to the first scale \
        (default 256) is classified instead, as single-crop evaluation does.

        Examples:
          vgg classify -m vgg16.vgg cat.jpg
          vgg classify -m vgg16.vgg photos/ --scales 256,384,512 --flip --top 3
          vgg classify -m vgg16.vgg cat.jpg --center-crop 224 --json
          vgg classify -m vgg16.vgg photos/ -o out/ --cluster local --workers 2

        Exit status: 0 when every image was classified, 1 when a model or an image failed \
        (the others are still processed), 64 on a usage error.
        """
    )

    @Option(name: .shortAndLong, help: "The .vgg model.")
    var model: String

    @Argument(help: "Image files or directories of .jpg/.jpeg/.png files.")
    var images: [String]

    @Option(help: "Number of classes to print.")
    var top = 5

    @Option(help: "Comma-separated smaller sides Q, e.g. 256,384,512.")
    var scales: String?

    @Flag(help: "Also evaluate the horizontally flipped image and average.")
    var flip = false

    @Option(name: .customLong("center-crop"), help: "Classify the central C×C crop of the image resized to the first scale.")
    var centerCrop: Int?

    @Option(help: "Threads per run (default: all cores).")
    var threads: Int?

    @Flag(help: "Print one JSON object per image.")
    var json = false

    @Option(help: "Run on Dask: 'local' or a scheduler address; results go to the --output directory.")
    var cluster: String?

    @Option(name: .shortAndLong, help: "Output directory of a --cluster run.")
    var output: String?

    @Option(help: "Worker processes of a local cluster.")
    var workers = 2

    @Option(help: "Class names: 'imagenet' (the bundled ILSVRC-2012 list) or a labels file (one per line, or Keras's imagenet_class_index.json); default: the model's own.")
    var labels: String?

    @OptionGroup var limits: ImageLimits

    func run() throws {
        if let cluster {
            guard let output else { throw ValidationError("--cluster needs -o DIRECTORY for the result shards") }
            if centerCrop != nil { throw ValidationError("--center-crop is not available with --cluster") }
            if labels != nil { throw ValidationError("--labels is not available with --cluster (the shards keep the model's labels)") }
            var args = ["classify", model] + images + ["-o", output, "--top", String(top), "--cluster", cluster, "--workers", String(workers)]
            if let scales { args += ["--scales", scales] }
            if flip { args.append("--flip") }
            if let threads { args += ["--threads-per-worker", String(threads)] }
            execBatch(args)
        }
        let qs = try parseScales(scales)
        if top < 1 || top > 1_000_000 { throw ValidationError("--top must be in 1…1000000, found \(top)") }
        if let c = centerCrop, c < 1 || c > Session.maxSide { throw ValidationError("--center-crop must be in 1…\(Session.maxSide), found \(c)") }
        let m = try openModel(model, verify: false)
        let session = try makeSession(m, threads: threads)
        if m.classCount == 0 {
            fputs("vgg: model '\(m.name)' has no classifier (features only); use vgg features\n", stderr)
            throw ExitCode(1)
        }
        let names = try classNames(m)
        let k = min(top, m.classCount)
        let paths = expandImagePaths(images)
        let progress = ProgressLine(total: paths.count)
        var failures = 0
        for (i, path) in paths.enumerated() {
            progress.update(i, path)
            do {
                let image = try loadImage(path, maxPixels: limits.maxPixels)
                let probabilities: [Float]
                do {
                    probabilities = try classify(session, image, scales: qs)
                    session.finishRun(failed: false)
                } catch {
                    // The library's memory rule: a failed run gives its workspace back.
                    session.finishRun(failed: true)
                    throw error
                }
                let best = Session.top(probabilities, k)
                progress.finish()
                printResult(path, best, names)
            } catch {
                progress.finish()
                // Image errors name the file already.
                fputs(error is ImageError ? "vgg: \(describe(error))\n" : "vgg: \(path): \(describe(error))\n", stderr)
                failures += 1
            }
        }
        progress.finish()
        if paths.count > 1 && !json {
            fputs("classified \(paths.count - failures) of \(paths.count) images\(failures > 0 ? ", \(failures) failed" : "")\n", stderr)
        }
        if failures > 0 { throw ExitCode(1) }
    }

    func classify(_ session: Session, _ image: RGBImage, scales qs: [Int]) throws -> [Float] {
        guard let base = UnsafePointer(image.pixels.baseAddress) else { throw ImageError(description: "empty image") }
        guard let crop = centerCrop else {
            // Each resized input within the limit before the engine allocates it.
            for q in qs.isEmpty ? [min(session.model.inputHeight, session.model.inputWidth)] : qs {
                _ = try resizedSize(image, smallerSide: q, maxPixels: limits.maxPixels)
            }
            return try session.classify(pixels: base, width: image.width, height: image.height, stride: image.width * 3,
                                        format: .rgb, scales: qs, flip: flip)
        }
        // The C×C centre of the image resized to Q is, in original pixels, a square of side
        // C·min(H,W)/Q around the centre: crop it and let the engine resize it to C.
        let q = qs.first ?? 256
        let side = min(min(image.width, image.height), max(1, Int((Double(crop) * Double(min(image.width, image.height)) / Double(q)).rounded())))
        let x0 = (image.width - side) / 2, y0 = (image.height - side) / 2
        return try session.classify(pixels: base + (y0 * image.width + x0) * 3, width: side, height: side,
                                    stride: image.width * 3, format: .rgb, scales: [crop], flip: flip)
    }

    /// The names printed for each class: --labels when given (its count must be the class count), else the model's.
    func classNames(_ m: Model) throws -> [String] {
        guard let labels else { return m.labels }
        let names: [String]
        do {
            names = try LabelsFile.read(path: labels)
        } catch let e as LabelsError {
            throw ValidationError("--labels: \(e.message)")
        }
        guard names.count == m.classCount else {
            throw ValidationError("--labels: '\(labels)' has \(names.count) labels, the model has \(m.classCount) classes")
        }
        return names
    }

    func printResult(_ path: String, _ best: [ClassScore], _ names: [String]) {
        if json {
            let classes: [JSON] = best.map { c in
                .object([("class", .int(c.classIndex)), ("probability", .float(c.probability)),
                         ("label", names.isEmpty ? .null : .string(names[c.classIndex]))])
            }
            print(JSON.object([("image", .string(path)), ("top", .array(classes))]).text)
            return
        }
        print(path)
        for (rank, c) in best.enumerated() {
            let name = names.isEmpty ? "class \(c.classIndex)" : names[c.classIndex]
            print("  \(rank + 1). \(formatProbability(c.probability))  \(name)")
        }
    }
}

func formatProbability(_ p: Float) -> String {
    let scaled = Int((Double(p) * 10000).rounded())
    let whole = scaled / 10000, frac = scaled % 10000
    return "\(whole).\(String(repeating: "0", count: 4 - String(frac).count))\(frac)"
}

func parseScales(_ s: String?) throws -> [Int] {
    guard let s else { return [] }
    let parts = s.split(separator: ",").map { Int($0.filter { $0 != " " }) }
    guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= 65536 }) else {
        throw ValidationError("--scales expects comma-separated sizes in 1…65536, found '\(s)'")
    }
    return parts.compactMap { $0 }
}

/// A session with `--threads` (default: all cores, at most 256); out-of-range values are a usage error.
func makeSession(_ m: Model, threads: Int?) throws -> Session {
    if let threads, threads < 1 || threads > 256 {
        throw ValidationError("--threads must be in 1…256, found \(threads)")
    }
    let s = Session(model: m)
    do {
        try s.setThreads(threads ?? max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 256)))
    } catch let e as VGGError {
        throw ValidationError(e.message)
    }
    return s
}

func describe(_ error: Error) -> String {
    if let e = error as? VGGError { return e.message }
    if let e = error as? ImageError { return e.description }
    return "\(error)"
}
