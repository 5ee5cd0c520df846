// libFuzzer target: the PyTorch .pth importer (zip directory, pickle reader, state-dict
// mapping, BatchNorm folding, writing). Built by tools/build_fuzzers.sh with ConverterHarness.swift.
import VGGConvert

private let directory = fuzzDirectory("torch")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorchImporter(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    convertForFuzzing(data, size, directory: directory, suffix: ".pth")
    return 0
}
