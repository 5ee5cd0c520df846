// `vgg features`: the outputs of named layers for image files, as a NumPy .npz file.
import ArgumentParser
import Glibc
import VGGEngine

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Extract the outputs of named layers for images into a NumPy .npz file.",
        discussion: """
        Each image is resized so its smaller side is --size (default: the model's training \
        size) and run fully convolutionally up to the deepest requested layer. Arrays are named \
        by layer, float32, shaped (C, h, w) per image; with --pool max|avg each becomes a (C,) \
        descriptor and several images are stacked to (N, C) with their paths in 'images'. \
        --l2-normalize scales each descriptor (or each (C, h, w) map) to unit L2 norm.

        Examples:
          vgg features -m vgg16.vgg cat.jpg --layer conv5_3 --layer fc7 -o cat.npz
          vgg features -m vgg16.vgg a/ --layer pool5 --pool max --l2-normalize -o a.npz
          python3 -c "import numpy; print(numpy.load('cat.npz')['fc7'].shape)"
          vgg features -m vgg16.vgg photos/ --layer pool5 -o out/ --cluster local

        With --cluster (local, or a Dask scheduler address) the job runs on Dask through the \
        Python package (python3 -m vgg.batch): -o names a directory of resumable shards \
        (shard-NNNNN.npz, index.tsv, errors.tsv); see the README.

        Exit status: 0 success, 1 failure (a bad image stops the run: nothing is written), \
        64 usage error.
        """
    )

    @Option(name: .shortAndLong, help: "The .vgg model.")
    var model: String

    @Argument(help: "Image files or directories (several only with --pool).")
    var images: [String]

    @Option(name: .customLong("layer"), help: "A layer name (Caffe or Keras); repeat for several.")
    var layers: [String] = []

    @Option(name: .shortAndLong, help: "Output .npz file.")
    var output: String

    @Option(help: "Smaller side the image is resized to (default: the model's training size).")
    var size: Int?

    @Option(help: "Global pooling of each map to a descriptor: max or avg.")
    var pool: String?

    @Flag(name: .customLong("l2-normalize"), help: "Scale each descriptor to unit L2 norm.")
    var l2Normalize = false

    @Option(help: "Threads per run (default: all cores).")
    var threads: Int?

    @Option(help: "Run on Dask: 'local' (a local cluster) or a scheduler address; -o is then a directory.")
    var cluster: String?

    @Option(help: "Worker processes of a local cluster.")
    var workers = 2

    @OptionGroup var limits: ImageLimits

    func run() throws {
        if layers.isEmpty { throw ValidationError("give at least one --layer") }
        if let cluster {
            var args = ["features", model] + images + ["-o", output, "--pool", pool ?? "max", "--cluster", cluster,
                                                          "--workers", String(workers)]
            for l in layers { args += ["--layer", l] }
            if l2Normalize { args.append("--l2-normalize") }
            if let size { args += ["--size", String(size)] }
            if let threads { args += ["--threads-per-worker", String(threads)] }
            execBatch(args)
        }
        if let p = pool, p != "max" && p != "avg" { throw ValidationError("--pool must be max or avg, found '\(p)'") }
        if let size, size < 1 || size > Session.maxSide { throw ValidationError("--size must be in 1…\(Session.maxSide), found \(size)") }
        let paths = expandImagePaths(images)
        if paths.count != 1 && pool == nil { throw ValidationError("several images need --pool (maps of different sizes cannot be stacked)") }
        if paths.isEmpty { throw ValidationError("no images given") }
        let m = try openModel(model, verify: false)
        let session = try makeSession(m, threads: threads)
        let q = size ?? min(m.inputHeight, m.inputWidth)
        // Pooled descriptors (C floats per image) are stacked; without --pool the one image's
        // maps are written straight from the buffers the run filled.
        var stacked = [String: [Float]]()
        var maps = [FloatStorage]()
        var shapes = [String: [Int]]()
        let progress = ProgressLine(total: paths.count)
        do {
            var indices = [Int]()
            for name in layers {
                guard let index = m.layerIndex(named: name) else {
                    throw VGGError(.notFound, "no layer named '\(name)' (layers: \(m.layers.map(\.name).joined(separator: ", ")))")
                }
                indices.append(index)
            }
            for (n, path) in paths.enumerated() {
                progress.update(n, path)
                // Every size derived from the image is checked before anything of that size is
                // allocated; the decoded pixels are freed once the input is made.
                let (input, h, w): (FloatStorage, Int, Int) = try {
                    let image = try loadImage(path, maxPixels: limits.maxPixels)
                    let (h, w) = try resizedSize(image, smallerSide: q, maxPixels: limits.maxPixels)
                    for (name, index) in zip(layers, indices) {
                        let s = try session.outputShape(layer: index, height: h, width: w)
                        shapes[name] = [s.channels, s.height, s.width]
                    }
                    return (try preprocessed(image, session: session, height: h, width: w), h, w)
                }()
                var buffers = [FloatStorage]()
                for name in layers {
                    let s = shapes[name] ?? [0, 0, 0]
                    buffers.append(try FloatStorage(count: s[0] * s[1] * s[2], for: "the output of '\(name)' (\(s[0])×\(s[1])×\(s[2]))"))
                }
                try session.features(input: input.pointer, n: 1, height: h, width: w, layers: layers,
                                     outputs: buffers.map(\.pointer), capacities: buffers.map(\.buffer.count))
                for (name, values) in zip(layers, buffers) {
                    let shape = shapes[name] ?? [0, 0, 0]
                    guard let p = pool else {
                        if l2Normalize { normalize(values.buffer) }
                        maps.append(values)
                        continue
                    }
                    let c = shape[0], plane = shape[1] * shape[2]
                    var descriptor = (0..<c).map { ch in
                        let slice = values.buffer[(ch * plane)..<((ch + 1) * plane)]
                        return p == "max" ? (slice.max() ?? 0) : slice.reduce(0, +) / Float(plane)
                    }
                    if l2Normalize { descriptor.withUnsafeMutableBufferPointer { normalize($0) } }
                    stacked[name, default: []] += descriptor
                }
            }
        } catch {
            progress.finish()
            fputs("vgg: \(describe(error))\n", stderr)
            throw ExitCode(1)
        }
        progress.finish()
        do {
            var arrays = [NPYArray]()
            var descriptors = [FloatStorage]()
            for (i, name) in layers.enumerated() {
                guard pool != nil else {
                    arrays.append(NPYArray(name: name, shape: shapes[name] ?? [], floats: UnsafeBufferPointer(maps[i].buffer)))
                    continue
                }
                let values = stacked[name] ?? []
                let storage = try FloatStorage(count: values.count, for: "the descriptors of '\(name)'")
                for (j, v) in values.enumerated() { storage.buffer[j] = v }
                descriptors.append(storage)
                arrays.append(NPYArray(name: name, shape: [paths.count, shapes[name]?[0] ?? 0], floats: UnsafeBufferPointer(storage.buffer)))
            }
            if pool != nil { arrays.append(NPYArray(name: "images", shape: [paths.count], floats: nil, strings: paths)) }
            // A file-size limit must give a clean error (EFBIG), not kill the process mid-write.
            signal(SIGXFSZ, SIG_IGN)
            try withExtendedLifetime((maps, descriptors)) { try NPZWriter.write(arrays, to: output) }
            print("wrote \(output): " + arrays.map { "\($0.name) \($0.shape)" }.joined(separator: ", "))
        } catch {
            fputs("vgg: \(describe(error))\n", stderr)
            throw ExitCode(1)
        }
    }
}

/// Scales the values to unit L2 norm (unchanged when all are zero).
func normalize(_ values: UnsafeMutableBufferPointer<Float>) {
    let norm = values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    if norm > 0 { for i in values.indices { values[i] = Float(Double(values[i]) / norm) } }
}
