// vgg-swift-example MODEL.vgg: the top 5 classes of a generated colour-gradient image.
import Glibc
import VGG

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    print("usage: vgg-swift-example MODEL.vgg")
    exit(64)
}
do {
    let model = try Model(path: arguments[1])
    let session = try model.makeSession(threads: 2)
    let width = 320, height = 240
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let p = (y * width + x) * 3
            pixels[p] = UInt8(x * 255 / (width - 1))
            pixels[p + 1] = UInt8(y * 255 / (height - 1))
            pixels[p + 2] = 128
        }
    }
    let top = try session.classify(pixels: pixels, width: width, height: height, top: min(5, model.classCount))
    print("\(model.name): \(model.classCount) classes, \(session.kernelPath) kernels")
    for (rank, c) in top.enumerated() {
        let name = model.labels.isEmpty ? "class \(c.classIndex)" : model.labels[c.classIndex]
        print("  \(rank + 1). \(c.probability)  \(name)")
    }
} catch let error as VGGError {
    print("vgg-swift-example: \(error)")
    exit(1)
}
