// classify MODEL.vgg WIDTH HEIGHT < pixels.rgb: the top 5 classes of raw 8-bit RGB pixels on stdin.
import Glibc
import VGG

let arguments = CommandLine.arguments
guard arguments.count == 4, let width = Int(arguments[2]), let height = Int(arguments[3]), width > 0, height > 0 else {
    fputs("usage: classify MODEL.vgg WIDTH HEIGHT < pixels.rgb\n", stderr)
    exit(64)
}
var pixels = [UInt8]()
var chunk = [UInt8](repeating: 0, count: 1 << 16)
while case let n = read(0, &chunk, chunk.count), n > 0 { pixels += chunk[0..<n] }
do {
    let model = try Model(path: arguments[1])
    let session = try Session(model: model, threads: 2)
    for (rank, c) in try session.classify(pixels: pixels, width: width, height: height, top: min(5, model.classCount)).enumerated() {
        print("\(rank + 1). \(c.probability)  \(model.labels.isEmpty ? "class \(c.classIndex)" : model.labels[c.classIndex])")
    }
} catch {
    fputs("classify: \(error)\n", stderr)
    exit(1)
}
