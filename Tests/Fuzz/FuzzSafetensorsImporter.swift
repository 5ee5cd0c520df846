// libFuzzer target: the safetensors importer (header length, JSON header validation, state-dict
// mapping, writing). Built by tools/build_fuzzers.sh with ConverterHarness.swift.
import VGGConvert

private let directory = fuzzDirectory("safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensorsImporter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    convertForFuzzing(data, size, directory: directory, suffix: ".safetensors")
    return 0
}
