// A named tensor of a PyTorch-style state dict (from a torch.save archive or a safetensors
// file): dtype, shape and its contiguous little-endian bytes in the mapped file, read in place.
import VGGFormat

struct StateDictTensor {
    enum DType: Equatable {
        case f32, f16, bf16, f64
        /// Integer and other types: kept for messages (num_batches_tracked is int64).
        case other(String)

        var name: String {
            switch self {
            case .f32: return "float32"
            case .f16: return "float16"
            case .bf16: return "bfloat16"
            case .f64: return "float64"
            case let .other(n): return n
            }
        }

        var size: Int? {
            switch self {
            case .f32: return 4
            case .f16, .bf16: return 2
            case .f64: return 8
            case .other: return nil
            }
        }
    }

    var name: String
    var dtype: DType
    var shape: [Int]
    /// The tensor's bytes (checked: count = elements × dtype size), and the file they lie in.
    var bytes: () throws -> UnsafeRawBufferPointer
    var file: MappedFile

    var elementCount: Int { shape.reduce(1, *) }

    /// The values as Float (f16/bf16/f64 converted).
    func floats() throws -> [Float] { try floats(from: bytes()) }

    /// Converts chunk by chunk, dropping each converted chunk's file pages, so a 200 MB f16
    /// fc6 does not stay resident beside its 400 MB of floats.
    private func floats(from raw: UnsafeRawBufferPointer) throws -> [Float] {
        guard let size = dtype.size else {
            throw ConvertError("tensor '\(name)' is \(dtype.name); weights must be float32, float16, bfloat16 or float64")
        }
        let n = elementCount
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            guard let base = raw.baseAddress, let dest = o.baseAddress else { return }
            let chunk = 1 << 20
            for start in stride(from: 0, to: n, by: chunk) {
                let end = min(n, start + chunk)
                switch dtype {
                case .f32:
                    UnsafeMutableRawPointer(dest + start).copyMemory(from: base + 4 * start, byteCount: (end - start) * 4)
                case .f16:
                    for i in start..<end { o[i] = floatFromF16(base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
                case .bf16:
                    for i in start..<end { o[i] = floatFromBF16(base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
                case .f64:
                    for i in start..<end { o[i] = Float(Double(bitPattern: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
                case .other:
                    break
                }
                file.release(offset: base + size * start - file.base, length: (end - start) * size)
            }
        }
        return out
    }

    /// Hands the values to `body` as a WeightSource: float32 straight from the mapping (no
    /// copy of a 400 MB fc6), other types converted; the pages are released afterwards.
    func withWeights(_ body: (WeightSource) throws -> Void) throws {
        let raw = try bytes()
        defer { file.release(offset: raw.baseAddress.map { $0 - file.base } ?? 0, length: raw.count) }
        if dtype == .f32 {
            guard let base = raw.baseAddress else { return try body(WeightSource(chunks: [])) }
            return try body(WeightSource(chunks: [(base, elementCount)]))
        }
        let values = try floats(from: raw)
        try values.withUnsafeBufferPointer { try body(WeightSource($0)) }
    }
}
