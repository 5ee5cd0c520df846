// libFuzzer target: the caffemodel importer (wire scanner, protobuf-c decoding, network
// building, writing). The converter takes paths, so each input goes through a temporary file.
import Glibc
import VGGConvert

private let directory: String = {
    var template = Array("/tmp/vgg-fuzz-caffe-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaffeImporter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = directory + "/in.caffemodel", output = directory + "/out.vgg"
    guard let f = fopen(input, "wb") else { return 0 }
    fwrite(data, 1, size, f)
    fclose(f)
    var options = ConvertOptions()
    options.output = output
    options.inputSize = 32
    _ = try? Converter.convert(input: input, options: options)
    unlink(output)
    return 0
}
