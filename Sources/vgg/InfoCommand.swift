// `vgg info`: what a .vgg file holds.
import ArgumentParser
import Glibc
import VGGEngine
import VGGFormat

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show a model's architecture, parameters, dtype, preprocessing and labels.",
        discussion: """
        Examples:
          vgg info vgg16.vgg
          vgg info vgg16.vgg --json | python3 -m json.tool
          vgg info vgg16.vgg --labels

        Exit status: 0 success, 1 when the file cannot be opened or is not a valid .vgg file, \
        64 on a usage error.
        """
    )

    @Argument(help: "A .vgg file.")
    var model: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .customLong("verify"), help: "Verify every tensor's checksum.")
    var verify = false

    @Flag(help: "List the model's class labels, one per line with its index.")
    var labels = false

    func run() throws {
        let m = try openModel(model, verify: verify)
        let dtypes = m.weightDTypes
        let order = m.channelOrder == .bgr ? "BGR" : "RGB"
        if labels {
            if m.labels.isEmpty { fputs("vgg: '\(model)' has no labels (vgg-convert --labels adds them)\n", stderr) }
            for (i, label) in m.labels.enumerated() { print("\(i)\t\(label)") }
            return
        }
        if json {
            print(m.describe(path: model).text)
            return
        }
        print("model        \(m.name)  (from \(m.sourceFormat.name))")
        print("file         \(model), \(formatBytes(m.mapping.count)), format version \(m.formatVersion)")
        print("parameters   \(grouped(m.parameterCount)), weights \(dtypes)")
        print("input        \(m.inputHeight)×\(m.inputWidth) at training; any size ≥ \(m.minimumInputSide) works")
        print("preprocess   \(order), mean \(m.mean.map { fmt($0) }.joined(separator: ", ")), scale \(m.scale.map { fmt($0) }.joined(separator: ", "))")
        print("classes      \(m.classCount == 0 ? "none (features only)" : String(m.classCount)), labels \(m.labels.isEmpty ? "none" : String(m.labels.count))")
        print("")
        let header = ["layer", "alias", "type", "out", "kernel", "stride", "pad", "params"]
        var rows = [header]
        for l in m.layers {
            rows.append([l.name, l.alias, l.typeDescription, String(l.outChannels), "\(l.kernelH)×\(l.kernelW)",
                         "\(l.strideH)", "\(l.padH)", l.parameterCount == 0 ? "" : grouped(l.parameterCount)])
        }
        printTable(rows)
    }
}

func openModel(_ path: String, verify: Bool) throws -> Model {
    do {
        return try Model(path: path, options: verify ? [.verifyChecksums] : [])
    } catch let e as VGGError {
        if e.status == .format, let kind = otherWeightFormat(path) {
            fputs("vgg: '\(path)' is not a .vgg file (it looks like \(kind)); convert it with vgg-convert first\n", stderr)
        } else {
            fputs("vgg: \(e.message)\n", stderr)
        }
        throw ExitCode(1)
    }
}

/// What a file that is not a .vgg model looks like from its first bytes (nil for a .vgg file),
/// so `-m weights.caffemodel` says to convert it rather than quote magic bytes.
func otherWeightFormat(_ path: String) -> String? {
    guard let f = try? openRegularFile(path) else { return nil }
    defer { close(f.descriptor) }
    var head = [UInt8](repeating: 0, count: 16)
    let n = head.withUnsafeMutableBytes { read(f.descriptor, $0.baseAddress, 16) }
    guard n >= 8 else { return nil }
    if Array(head[0..<8]) == VGGFile.magic { return nil }
    if Array(head[0..<8]) == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] { return "an HDF5 file: Keras or Caffe HDF5 weights" }
    if Array(head[0..<4]) == [0x50, 0x4B, 0x03, 0x04] { return "a zip archive: PyTorch .pth weights" }
    if n > 8 && head[8] == UInt8(ascii: "{") { return "a safetensors file" }
    if head[0] == 0x80 { return "a pickle: legacy PyTorch weights" }
    if head[0] == 0x08 { return "an ONNX model" }
    if head[0] == 0x0A || head[0] == 0x12 { return "a Caffe .caffemodel" }
    return "another format: unrecognised first bytes"
}

func fmt(_ x: Float) -> String {
    let s = String(x)
    return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
}

func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

func formatBytes(_ n: Int) -> String {
    n >= 1 << 20 ? "\(grouped(n)) bytes (\(n >> 20) MiB)" : "\(grouped(n)) bytes"
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    for r in rows {
        var line = ""
        for (i, c) in r.enumerated() {
            let pad = String(repeating: " ", count: widths[i] - c.count)
            line += i == r.count - 1 ? pad + c : c + pad + "  "
        }
        print(line)
    }
}
