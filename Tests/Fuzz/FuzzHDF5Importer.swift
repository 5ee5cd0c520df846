// libFuzzer target: the HDF5 importer (libhdf5 reading, Keras and Caffe layouts, network
// building, writing). The converter takes paths, so each input goes through a temporary file.
import Glibc
import VGGConvert

private let directory: String = {
    var template = Array("/tmp/vgg-fuzz-hdf5-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5Importer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = directory + "/in.h5", output = directory + "/out.vgg"
    guard let f = fopen(input, "wb") else { return 0 }
    fwrite(data, 1, size, f)
    fclose(f)
    HDF5Importer.watchdogSeconds = 0  // libFuzzer's -timeout watches instead
    var options = ConvertOptions()
    options.output = output
    options.inputSize = 32
    _ = try? Converter.convert(input: input, options: options)
    unlink(output)
    return 0
}
