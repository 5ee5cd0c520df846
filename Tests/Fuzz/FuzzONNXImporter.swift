// libFuzzer target: the ONNX importer (wire scanner over ModelProto and GraphProto, protobuf-c
// decoding of nodes and tensor headers, external data paths, the chain walk, writing). Built
// by tools/build_fuzzers.sh with ConverterHarness.swift.
import VGGConvert

private let directory = fuzzDirectory("onnx")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXImporter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    convertForFuzzing(data, size, directory: directory, suffix: ".onnx")
    return 0
}
