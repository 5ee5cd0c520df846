// Image files for the CLI: decoding (JPEG/PNG through CImageIO), directory expansion.
import CImageIO
import Glibc
import VGGEngine

struct RGBImage {
    var pixels: [UInt8]
    var width: Int
    var height: Int
}

struct ImageError: Error, CustomStringConvertible {
    let description: String
}

func loadImage(_ path: String) throws -> RGBImage {
    var raw: UnsafeMutablePointer<UInt8>? = nil
    var w: Int32 = 0, h: Int32 = 0
    var message = [CChar](repeating: 0, count: 512)
    if vggimg_decode_file(path, &raw, &w, &h, &message, message.count) != 0 {
        throw ImageError(description: String(cString: message))
    }
    defer { free(raw) }
    guard let raw, w > 0, h > 0 else { throw ImageError(description: "'\(path)': empty image") }
    return RGBImage(pixels: Array(UnsafeBufferPointer(start: raw, count: Int(w) * Int(h) * 3)), width: Int(w), height: Int(h))
}

func writePNG(_ path: String, _ image: RGBImage) throws {
    var message = [CChar](repeating: 0, count: 512)
    let rc = image.pixels.withUnsafeBufferPointer {
        vggimg_write_png(path, $0.baseAddress, Int32(image.width), Int32(image.height), &message, message.count)
    }
    if rc != 0 { throw ImageError(description: String(cString: message)) }
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

/// The image resized so its smaller side is `side` and preprocessed for the model (CHW floats),
/// with its height and width: the input of features and heatmap runs.
func preprocessed(_ image: RGBImage, session: Session, smallerSide side: Int) -> (input: [Float], height: Int, width: Int) {
    let (h, w) = Session.resizedSize(height: image.height, width: image.width, smallerSide: side)
    var input = [Float](repeating: 0, count: 3 * h * w)
    image.pixels.withUnsafeBufferPointer { p in
        input.withUnsafeMutableBufferPointer { d in
            guard let src = p.baseAddress, let dst = d.baseAddress else { return }
            session.preprocess(pixels: src, width: image.width, height: image.height, stride: image.width * 3,
                               format: .rgb, outHeight: h, outWidth: w, flip: false, into: dst)
        }
    }
    return (input, h, w)
}
