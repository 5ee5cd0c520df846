// A workspace that runs a model: one thread at a time (not Sendable), reused across calls.
import CVGG
import Glibc

/// The pixel layout of 8-bit images given to `Session.classify`.
public enum PixelFormat: Sendable {
    case rgb, bgr
    var code: Int32 { self == .rgb ? VGG_PIXELS_RGB : VGG_PIXELS_BGR }
}

/// One class of a classification and its probability.
public struct ClassScore: Sendable, Equatable {
    public let classIndex: Int
    public let probability: Float
}

/// A session runs a model. Use it from one thread at a time (it is deliberately not Sendable);
/// create one per thread, all sharing one `Model`. Its workspace is kept between calls of the
/// same or a smaller size and given back after a failed or unusually large run (vgg.h).
public final class Session {
    let handle: OpaquePointer
    public let model: Model

    public init(model: Model, threads: Int = 1) throws {
        var raw: OpaquePointer?
        try VGGError.check(vgg_session_create(model.handle, &raw))
        guard let raw else { throw VGGError.invalidArgument("vgg_session_create returned no session") }
        handle = raw
        self.model = model
        if threads != 1 { try setThreads(threads) }
    }

    deinit { vgg_session_free(handle) }

    /// Threads each call uses (1…256).
    public var threads: Int {
        var value: Int64 = 0
        return vgg_session_get_option(handle, VGG_OPTION_THREADS, &value) == Int32(VGG_OK.rawValue) ? Int(value) : 1
    }

    public func setThreads(_ n: Int) throws {
        guard (1...256).contains(n) else { throw VGGError.invalidArgument("threads: expected 1…256, found \(n)") }
        try VGGError.check(vgg_session_set_option(handle, VGG_OPTION_THREADS, Int64(n)))
    }

    /// The kernels calls run: "x86-64-v4", "x86-64-v3", "x86-64" or "reference".
    public var kernelPath: String { vgg_session_kernel_path(handle).map { String(cString: $0) } ?? "" }

    // MARK: - Preprocessed float input (N×3×H×W, the model's channel order, (pixel − mean) × scale)

    /// Class score maps, N×K×h×w (before soft-max), for `count` preprocessed images.
    public func forward(_ input: [Float], count: Int = 1, height: Int, width: Int) throws -> [Float] {
        let out = try model.outputShape(height: height, width: width)
        var scores = [Float](repeating: 0, count: count * out.channels * out.height * out.width)
        try input.withUnsafeBufferPointer { i in
            try scores.withUnsafeMutableBufferPointer { o in try forward(i, count: count, height: height, width: width, into: o) }
        }
        return scores
    }

    /// `forward` into a caller buffer (no allocation by this layer); `output` must hold N×K×h×w floats.
    public func forward(_ input: UnsafeBufferPointer<Float>, count: Int, height: Int, width: Int,
                        into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkInput(input.count, count: count, height: height, width: width)
        try VGGError.check(vgg_session_forward(handle, input.baseAddress, Int64(count), Int64(height), Int64(width),
                                               output.baseAddress, output.count))
    }

    /// Class probabilities (score maps averaged over space, then soft-max), N×K.
    public func probabilities(_ input: [Float], count: Int = 1, height: Int, width: Int) throws -> [Float] {
        try checkInput(input.count, count: count, height: height, width: width)
        var result = [Float](repeating: 0, count: count * model.classCount)
        try input.withUnsafeBufferPointer { i in
            try result.withUnsafeMutableBufferPointer { o in
                try VGGError.check(vgg_session_probabilities(handle, i.baseAddress, Int64(count), Int64(height), Int64(width),
                                                             o.baseAddress, o.count))
            }
        }
        return result
    }

    /// The outputs of named layers (Caffe or Keras names; conv outputs after ReLU), each N×C×h×w,
    /// computed in one pass that stops after the deepest of them.
    public func features(_ input: [Float], count: Int = 1, height: Int, width: Int, layers: [String]) throws -> [String: [Float]] {
        try checkInput(input.count, count: count, height: height, width: width)
        guard !layers.isEmpty, layers.count <= Int(Int32.max) else { throw VGGError.invalidArgument("features: give at least one layer") }
        if let bad = layers.first(where: { $0.utf8.contains(0) }) {
            throw VGGError.invalidArgument("features: layer name \(bad.debugDescription) contains a NUL character")
        }
        let sizes = try layers.map { name -> Int in
            let s = try model.outputShape(layer: name, height: height, width: width)
            return count * s.channels * s.height * s.width
        }
        // One C buffer per layer, copied into arrays after the call.
        let buffers = sizes.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0) }
        defer { buffers.forEach { $0.deallocate() } }
        let names = layers.map { strdup($0) }
        defer { names.forEach { free($0) } }
        try input.withUnsafeBufferPointer { i in
            try VGGError.check(vgg_session_features(handle, i.baseAddress, Int64(count), Int64(height), Int64(width),
                                                    names.map { $0.map { UnsafePointer<CChar>($0) } }, Int32(layers.count),
                                                    buffers.map(\.baseAddress), sizes))
        }
        let outputs = buffers.map { Array($0) }
        return Dictionary(zip(layers, outputs), uniquingKeysWith: { first, _ in first })
    }

    // MARK: - 8-bit images

    /// Dense evaluation of one 8-bit image as in the VGG paper: resized so its smaller side is
    /// each of `scales` (none: the training size), optionally with the horizontal flip,
    /// posteriors averaged. `pixels` holds `height` rows of `width` interleaved 3-byte pixels.
    public func classify(pixels: [UInt8], width: Int, height: Int, format: PixelFormat = .rgb,
                         scales: [Int] = [], flip: Bool = false, top: Int = 5) throws -> [ClassScore] {
        guard width > 0, height > 0, width <= 65536, height <= 65536, pixels.count == width * height * 3 else {
            throw VGGError.invalidArgument("classify: expected width × height × 3 = \(width) × \(height) × 3 bytes of pixels, found \(pixels.count)")
        }
        guard (1...max(1, model.classCount)).contains(top) else {
            throw VGGError.invalidArgument("classify: top: expected 1…\(model.classCount), found \(top)")
        }
        guard scales.count <= 64, scales.allSatisfy({ (1...65536).contains($0) }) else {
            throw VGGError.invalidArgument("classify: scales: expected at most 64 sides in 1…65536, found \(scales)")
        }
        var classes = [Int32](repeating: 0, count: top)
        var probabilities = [Float](repeating: 0, count: top)
        let q = scales.map { Int32($0) }
        try VGGError.check(vgg_session_classify(handle, pixels, Int64(width), Int64(height), Int64(width * 3), format.code,
                                                q.isEmpty ? nil : q, Int32(q.count), flip ? 1 : 0, Int32(top),
                                                &classes, &probabilities))
        return zip(classes, probabilities).map { ClassScore(classIndex: Int($0), probability: $1) }
    }

    private func checkInput(_ floats: Int, count: Int, height: Int, width: Int) throws {
        guard count >= 1, (1...65536).contains(height), (1...65536).contains(width) else {
            throw VGGError.invalidArgument("expected count ≥ 1 and sides in 1…65536, found count \(count), \(height)×\(width)")
        }
        let (perImage, o1) = (3 * height).multipliedReportingOverflow(by: width)
        let (needed, o2) = perImage.multipliedReportingOverflow(by: count)
        guard !o1, !o2, floats == needed else {
            throw VGGError.invalidArgument("expected \(count)×3×\(height)×\(width) input floats, found \(floats)")
        }
    }
}
