// libFuzzer target: the caffemodel importer (wire scanner, protobuf-c decoding, network
// building, writing). Built by tools/build_fuzzers.sh with ConverterHarness.swift.
import VGGConvert

private let directory = fuzzDirectory("caffe")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaffeImporter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    convertForFuzzing(data, size, directory: directory, suffix: ".caffemodel")
    return 0
}
