// swift-tools-version:5.9
// libvgg: run VGG networks inside other programs.
//
// Public API
//   libvgg.so    the engine behind the C ABI of include/vgg.h (dynamic, Swift runtime linked in)
//   vgg-convert  caffemodel / HDF5 -> .vgg
//   vgg          the command line runner (product vgg-cli, installed as vgg)
// Implementation details (no stable Swift API)
//   VGGFormat    the .vgg byte layout shared by writer and reader
//   VGGEngine    reader, planner, forward pass (Glibc only: no Foundation, HDF5, protobuf)
//   VGGKernels*  per-ISA compute kernels, chosen at load time by CPU detection
//   VGGKernelABI the function table each kernel module exports (one type for the three)
//   VGGConvert   importers and the .vgg writer (no engine: nm vgg-convert shows no kernels)
//   AtomicFile   output files written through a temporary + fsync + rename (both executables)
//
// The unsafeFlags below (ISA flags for kernels, static stdlib, version script) make this
// package unusable as a versioned SwiftPM dependency; libvgg is consumed through its C ABI.
import PackageDescription

// Kernels must be compiled for a CPU with FMA: without it `addingProduct` becomes a scalar
// libm call per lane (~145x slower) and every test still passes.
func kernelTarget(_ name: String, march: String?) -> Target {
    .target(
        name: name,
        dependencies: ["VGGFormat", "VGGKernelABI", "CVggSupport", "CVggBF16"],
        swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"] + (march.map { ["-Xcc", "-march=\($0)"] } ?? []))]
    )
}

let package = Package(
    name: "libvgg",
    products: [
        .library(name: "vgg", type: .dynamic, targets: ["VGGCAPI"]),
        .executable(name: "vgg-convert", targets: ["vgg-convert"]),
        // Installed as `vgg` (a product cannot share the library product's name).
        .executable(name: "vgg-cli", targets: ["vgg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Public API
        .target(
            name: "VGGCAPI",
            dependencies: ["VGGEngine"],
            exclude: ["exports.map"],
            swiftSettings: [.unsafeFlags(["-static-stdlib"])],
            linkerSettings: [.unsafeFlags([
                "-static-stdlib",
                "-Xlinker", "--version-script=Sources/VGGCAPI/exports.map",
                "-Xlinker", "-soname=libvgg.so.0",
            ])]
        ),
        .executableTarget(
            name: "vgg-convert",
            dependencies: ["VGGConvert", "AtomicFile", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "vgg",
            dependencies: ["VGGEngine", "VGGFormat", "CImageIO", "CMachineProbe", "AtomicFile", "ClassLabels", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Implementation details
        // DWARF 4 for the C targets: valgrind 3.19 (Debian 12, the leak test) cannot read the
        // DWARF 5 forms clang 21 writes.
        .target(name: "CVggSupport", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        // AVX512-BF16 dot products (vdpbf16ps) for bf16-weight models: C intrinsics behind CPU detection.
        .target(name: "CVggBF16", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        // `vgg bench --layers`: this machine's multiply-add rates and memory bandwidth, measured.
        // -O2 in every build: its loops keep their accumulators in registers only when optimised
        // (unoptimised, the FMA probe read 4.5 GFLOP/s against ~210).
        .target(name: "CMachineProbe", dependencies: ["CVggBF16"], cSettings: [.unsafeFlags(["-gdwarf-4", "-O2"])]),
        .target(name: "VGGFormat"),
        // The function table every kernel module exports and the engine picks one of.
        .target(name: "VGGKernelABI", dependencies: ["VGGFormat"]),
        kernelTarget("VGGKernelsBase", march: nil),
        kernelTarget("VGGKernelsV3", march: "x86-64-v3"),
        kernelTarget("VGGKernelsV4", march: "x86-64-v4"),
        .target(
            name: "VGGEngine",
            dependencies: ["VGGFormat", "VGGKernelABI", "CVggSupport", "CVggBF16", "VGGKernelsBase", "VGGKernelsV3", "VGGKernelsV4"],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(name: "CCaffeProto", dependencies: ["CProtobufC"]),
        .target(name: "COnnxProto", dependencies: ["CProtobufC"]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "CImageIO", dependencies: ["CJPEG", "CPNG"]),
        // Output files that appear only when complete (temporary + fsync + rename): the
        // converter's .vgg files and the vgg tool's .npz and PNG outputs.
        .target(name: "AtomicFile"),
        // Class labels for --labels (files, Keras JSON, the bundled ImageNet list), for both tools.
        .target(name: "ClassLabels", dependencies: ["VGGFormat"]),
        .target(
            name: "VGGConvert",
            dependencies: ["VGGFormat", "AtomicFile", "ClassLabels", "CCaffeProto", "COnnxProto", "CProtobufC", "CHDF5"]
        ),
    ]
)
