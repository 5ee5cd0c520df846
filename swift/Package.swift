// swift-tools-version:5.9
// VGG: libvgg for Swift programs. A flag-free package over the installed C library (found with
// `pkg-config vgg`), so other packages can depend on it by path or URL.
//
// Public API
//   VGG                the Swift module: Model, Session, VGGError
// Implementation details
//   CVGG               the system library: include/vgg.h and -lvgg through pkg-config
//   vgg-swift-example  prints the top 5 classes of a generated image
import PackageDescription

let package = Package(
    name: "VGG",
    products: [
        .library(name: "VGG", targets: ["VGG"]),
        .executable(name: "vgg-swift-example", targets: ["vgg-swift-example"]),
    ],
    targets: [
        .systemLibrary(name: "CVGG", pkgConfig: "vgg"),
        .target(name: "VGG", dependencies: ["CVGG"]),
        .executableTarget(name: "vgg-swift-example", dependencies: ["VGG"]),
        .testTarget(name: "VGGTests", dependencies: ["VGG"]),
    ]
)
