// libFuzzer target: the .vgg reader and a forward pass on whatever it accepts.
// Built by tools/build_fuzzers.sh (swiftc -sanitize=fuzzer,address); run by `make fuzz`.
import VGGEngine

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVGGReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    // The engine reads tensors in place: give it an aligned copy, as mmap would.
    let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 4096)
    defer { bytes.deallocate() }
    bytes.copyMemory(from: data, byteCount: size)
    let mapping = FileMapping(borrowing: UnsafeRawPointer(bytes), count: size)
    guard let model = try? Model(mapping: mapping) else { return 0 }
    _ = try? model.verifyChecksums()
    let session = Session(model: model)
    // 48 or more so that 3×3 layers of mutated tiny models reach the Winograd path too.
    let side = min(64, max(48, model.minimumInputSide))
    let input = [Float](repeating: 1, count: 3 * side * side)
    if let shape = try? session.outputShape(height: side, width: side), shape.count <= 1 << 20, model.classCount > 0 {
        var out = [Float](repeating: 0, count: shape.count)
        input.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                _ = try? session.forward(input: i.baseAddress!, n: 1, height: side, width: side, output: o.baseAddress!, capacity: o.count)
            }
        }
    }
    return 0
}
