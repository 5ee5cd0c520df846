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

/// A fresh directory under /tmp for one fuzz target's files.
func fuzzDirectory(_ name: String) -> String {
    var template = Array("/tmp/vgg-fuzz-\(name)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
        return String(cString: made)
    }
}
