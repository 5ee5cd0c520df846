// Shared by the converter fuzz targets: the converter takes paths, so each input goes through
// a temporary file in a directory of its own.
import Glibc
import VGGConvert

/// Writes the input to `<dir>/in<suffix>` and converts it; errors are the expected outcome.
func convertForFuzzing(_ data: UnsafePointer<UInt8>, _ size: Int, directory: String, suffix: String) {
    let input = directory + "/in" + suffix, output = directory + "/out.vgg"
    guard let f = fopen(input, "wb") else { return }
    fwrite(data, 1, size, f)
    fclose(f)
    var options = ConvertOptions()
    options.output = output
    options.inputSize = 32
    _ = try? Converter.convert(input: input, options: options)
    unlink(output)
}

/// The directory made by `fuzzDirectory`, removed with its files when the fuzzer exits
/// (libFuzzer leaves through exit() after -runs or -max_total_time; a crash keeps it for the
/// artifact's sake).
nonisolated(unsafe) private var madeDirectory: String?

private func removeMadeDirectory() {
    guard let directory = madeDirectory else { return }
    for name in ["in.caffemodel", "in.h5", "in.pth", "in.safetensors", "in.onnx", "out.vgg"] { unlink(directory + "/" + name) }
    rmdir(directory)
}

/// A fresh directory under /tmp for one fuzz target's files.
func fuzzDirectory(_ name: String) -> String {
    var template = Array("/tmp/vgg-fuzz-\(name)-XXXXXX".utf8CString)
    let made: String? = template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, let path = mkdtemp(base) else { return nil }
        return String(cString: path)
    }
    guard let directory = made else { return "/tmp" }
    madeDirectory = directory
    atexit { removeMadeDirectory() }
    return directory
}
