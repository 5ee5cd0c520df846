// libFuzzer target: the HDF5 importer (libhdf5 reading, Keras and Caffe layouts, network
// building, writing). Built by tools/build_fuzzers.sh with ConverterHarness.swift.
import VGGConvert

private let directory = fuzzDirectory("hdf5")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5Importer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    HDF5Importer.watchdogSeconds = 0  // libFuzzer's -timeout watches instead (and ASan reports crashes)
    convertForFuzzing(data, size, directory: directory, suffix: ".h5")
    return 0
}
