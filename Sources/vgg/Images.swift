// Image files for the CLI: decoding (JPEG/PNG through CImageIO), directory expansion.
import ArgumentParser
import AtomicFile
import CImageIO
import Glibc
import VGGEngine

/// Decoded 8-bit RGB pixels, rows packed (stride 3 × width): the decoder's own buffer, the
/// one copy of the image in memory, freed with the image.
final class RGBImage {
    let pixels: UnsafeMutableBufferPointer<UInt8>
    let width: Int
    let height: Int

    init(taking pixels: UnsafeMutablePointer<UInt8>, width: Int, height: Int) {
        self.pixels = UnsafeMutableBufferPointer(start: pixels, count: width * height * 3)
        self.width = width
        self.height = height
    }

    deinit { free(pixels.baseAddress) }
}

struct ImageError: Error, CustomStringConvertible {
    let description: String
}

/// The image size limit of the commands that read images: decoded images and the resized
/// inputs made from them are refused above it.
struct ImageLimits: ParsableArguments {
    @Option(name: .customLong("max-pixels"), help: "Largest image accepted, decoded or resized, in pixels.")
    var maxPixels = Int(VGGIMG_DEFAULT_MAX_PIXELS)

    func validate() throws {
        if maxPixels < 1 { throw ValidationError("--max-pixels must be positive, found \(maxPixels)") }
    }
}

func loadImage(_ path: String, maxPixels: Int) throws -> RGBImage {
    var raw: UnsafeMutablePointer<UInt8>? = nil
    var w: Int32 = 0, h: Int32 = 0
    var message = [CChar](repeating: 0, count: 512)
    if vggimg_decode_file(path, UInt64(max(1, maxPixels)), &raw, &w, &h, &message, message.count) != 0 {
        throw ImageError(description: String(cString: message))
    }
    guard let raw else { throw ImageError(description: "'\(path)': empty image") }
    guard w > 0, h > 0 else {
        free(raw)
        throw ImageError(description: "'\(path)': empty image")
    }
    return RGBImage(taking: raw, width: Int(w), height: Int(h))
}

/// Writes the image as a PNG that replaces `path` only once complete (a failed write leaves
/// any previous file as it was).
func writePNG(_ path: String, _ image: RGBImage) throws {
    let out = try AtomicOutput(path: path)
    var message = [CChar](repeating: 0, count: 512)
    let rc = vggimg_write_png_fd(out.fd, path, image.pixels.baseAddress, Int32(image.width), Int32(image.height),
                                 &message, message.count)
    if rc != 0 { throw ImageError(description: String(cString: message)) }
    try out.commit()
}

/// Floats the CLI allocates in sizes derived from its input: the byte count is computed with
/// overflow checks and a failed allocation is an error with a message, not an abort.
final class FloatStorage {
    let pointer: UnsafeMutablePointer<Float>
    let buffer: UnsafeMutableBufferPointer<Float>

    init(count: Int, for what: String) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        guard count >= 0, !overflow, let raw = malloc(max(bytes, MemoryLayout<Float>.size)) else {
            throw ImageError(description: "cannot allocate \(overflow ? "more than \(Int.max)" : String(bytes)) bytes for \(what)")
        }
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        p.initialize(repeating: 0, count: count)
        pointer = p
        buffer = UnsafeMutableBufferPointer(start: p, count: count)
    }

    deinit { free(pointer) }
}

/// The size of `image` resized so its smaller side is `side`, refused when a side is past
/// what the engine takes or the pixel count past the limit: checked before anything of that
/// size is allocated.
func resizedSize(_ image: RGBImage, smallerSide side: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
    guard side >= 1 && side <= Session.maxSide else {
        throw ImageError(description: "smaller side \(side): expected 1…\(Session.maxSide)")
    }
    let (h, w) = Session.resizedSize(height: image.height, width: image.width, smallerSide: side)
    let (pixels, overflow) = h.multipliedReportingOverflow(by: w)
    if h > Session.maxSide || w > Session.maxSide || overflow || pixels > maxPixels {
        throw ImageError(description: "the \(image.width)×\(image.height) image resized to smaller side \(side) would be \(w)×\(h) = \(overflow ? "too many" : String(pixels)) pixels; expected sides of at most \(Session.maxSide) and at most \(maxPixels) pixels (--max-pixels)")
    }
    return (h, w)
}

/// Files named on the command line, with directories replaced by the JPEG/PNG files in them
/// (sorted, not recursive).
func expandImagePaths(_ args: [String]) -> [String] {
    var out = [String]()
    for a in args {
        var st = stat()
        guard stat(a, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(a) else {
            out.append(a)
            continue
        }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            let lower = name.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") { names.append(name) }
        }
        closedir(dir)
        out += names.sorted().map { a.hasSuffix("/") ? a + $0 : a + "/" + $0 }
    }
    return out
}

/// A one-line progress display on standard error (terminals only).
final class ProgressLine {
    let total: Int
    let enabled: Bool
    init(total: Int) {
        self.total = total
        enabled = total > 1 && isatty(STDERR_FILENO) != 0
    }
    func update(_ done: Int, _ current: String) {
        guard enabled else { return }
        let width = 24, filled = done * width / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        fputs("\r[\(bar)] \(done)/\(total) \(current.suffix(40))\u{1B}[K", stderr)
    }
    func finish() { if enabled { fputs("\r\u{1B}[K", stderr) } }
}

/// The image resized to `height`×`width` (from `resizedSize`, checked by the caller against
/// the layers it runs) and preprocessed for the model: CHW floats, the input of features and
/// heatmap runs.
func preprocessed(_ image: RGBImage, session: Session, height h: Int, width w: Int) throws -> FloatStorage {
    let input = try FloatStorage(count: 3 * h * w, for: "the \(w)×\(h) input image")
    guard let src = image.pixels.baseAddress else { throw ImageError(description: "empty image") }
    session.preprocess(pixels: src, width: image.width, height: image.height, stride: image.width * 3,
                       format: .rgb, outHeight: h, outWidth: w, flip: false, into: input.pointer)
    return input
}
