// swift-tools-version:5.9
// A program that uses libvgg from Swift through the VGG package (../../swift), as another
// package would: by path here, or by URL and version. No unsafe flags.
import PackageDescription

let package = Package(
    name: "classify",
    dependencies: [.package(name: "VGG", path: "../../swift")],
    targets: [.executableTarget(name: "classify", dependencies: [.product(name: "VGG", package: "VGG")])]
)
