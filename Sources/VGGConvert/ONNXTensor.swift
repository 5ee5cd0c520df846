// An ONNX initializer (TensorProto): its header decoded by protobuf-c, its payload left where
// it lies — raw_data or packed float_data in the mapped model, or a range of an external data
// file next to the model — so a 400 MB fc6 is read in place, never copied whole.
import COnnxProto
import CProtobufC
import Glibc

struct ONNXTensor {
    enum Payload {
        /// Little-endian bytes of the tensor's data type, in a mapped file.
        case mapped(StateDictTensor)
        /// Values protobuf-c decoded (unpacked float_data, double_data, int64_data).
        case floats([Float])
        case integers([Int64])
    }

    var name: String
    var dims: [Int]
    var payload: Payload

    var elementCount: Int { dims.reduce(1, *) }

    /// The values as Float (f16/bf16/f64 converted).
    func floats() throws -> [Float] {
        switch payload {
        case let .mapped(t): return try t.floats()
        case let .floats(v): return v
        case .integers: throw ConvertError("initializer '\(name)' holds integers; weights must be float32, float16, bfloat16 or float64")
        }
    }

    /// Hands the values to `body`: float32 straight from the mapping, anything else converted.
    func withWeights(_ body: (WeightSource) throws -> Void) throws {
        if case let .mapped(t) = payload { return try t.withWeights(body) }
        let values = try floats()
        try values.withUnsafeBufferPointer { try body(WeightSource($0)) }
    }

    /// The values of an int64 tensor (Reshape's shape).
    func integers() throws -> [Int64] {
        switch payload {
        case let .integers(v): return v
        case let .mapped(t) where t.dtype == .other("int64"):
            let raw = try t.bytes()
            return (0..<elementCount).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        default: throw ConvertError("initializer '\(name)' is not an int64 tensor")
        }
    }
}

/// The element type of an ONNX TensorProto.DataType value.
private func dtype(_ dataType: Int32) -> StateDictTensor.DType {
    switch dataType {
    case 1: return .f32
    case 10: return .f16
    case 16: return .bf16
    case 11: return .f64
    case 7: return .other("int64")
    default: return .other("data_type \(dataType)")
    }
}

private func byteSize(_ t: StateDictTensor.DType) -> Int? {
    t == .other("int64") ? 8 : t.size
}

/// External data files of one model, each mapped once, resolved inside the model's directory.
final class ONNXExternalFiles {
    let directory: String
    private var files: [String: MappedFile] = [:]

    init(modelPath: String) {
        if let slash = modelPath.lastIndex(of: "/") {
            directory = modelPath[..<slash].isEmpty ? "/" : String(modelPath[..<slash])
        } else {
            directory = "."
        }
    }

    /// The mapped file `location` names; it must be a relative path that stays in the model's directory.
    func file(_ location: String, tensor: String) throws -> MappedFile {
        if let f = files[location] { return f }
        let parts = location.split(separator: "/", omittingEmptySubsequences: false)
        if location.isEmpty || location.hasPrefix("/") || parts.contains("..") || location.contains("\0") {
            throw ConvertError("initializer '\(tensor)': external data location '\(location)' must be a relative path inside the model's directory")
        }
        let path = directory + "/" + location
        // Symbolic links must not lead out of the directory either.
        guard let dir = realpath(directory, nil) else { throw ConvertError("cannot resolve the model's directory '\(directory)'") }
        defer { free(dir) }
        guard let resolved = realpath(path, nil) else {
            throw ConvertError("initializer '\(tensor)': external data file '\(path)' cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        let d = String(cString: dir), r = String(cString: resolved)
        guard r.hasPrefix(d == "/" ? "/" : d + "/") else {
            throw ConvertError("initializer '\(tensor)': external data file '\(location)' resolves to '\(r)', outside the model's directory")
        }
        let f = try mapConverterInput(path)
        files[location] = f
        return f
    }
}

extension ONNXTensor {
    /// Decodes one TensorProto record at `offset` in the mapped model. raw_data and a single
    /// packed float_data record are cut out before protobuf-c sees the record and served in place.
    static func decode(file: MappedFile, offset: Int, length: Int, external: ONNXExternalFiles, what: String) throws -> ONNXTensor {
        let base = file.base + offset
        let fields = try ProtobufScanner(base: base, count: length).fields()
        let packedFloats = fields.filter { $0.number == 4 && $0.wireType == 2 }
        let cutFloats = packedFloats.count == 1 && !fields.contains { $0.number == 4 && $0.wireType != 2 }
        var stripped = [UInt8]()
        var rawData: WireField?
        var floatData: WireField?
        for f in fields {
            if f.number == 9 && f.wireType == 2 { rawData = f; continue }
            if f.number == 4 && f.wireType == 2 && cutFloats { floatData = f; continue }
            stripped.append(contentsOf: UnsafeRawBufferPointer(start: base + f.keyOffset, count: f.end - f.keyOffset))
        }
        // protobuf-c needs a non-null buffer even for an empty message.
        if stripped.isEmpty { stripped = [0x10, 0x00] }  // data_type 0
        let message = stripped.withUnsafeBufferPointer { onnx__tensor_proto__unpack(nil, $0.count, $0.baseAddress) }
        guard let message else { throw ConvertError("\(what) is not a valid TensorProto (malformed protobuf)") }
        defer { onnx__tensor_proto__free_unpacked(message, nil) }
        let m = message.pointee
        let name = m.name.map { String(cString: $0) } ?? ""
        let label = name.isEmpty ? what : "initializer '\(name)'"
        var dims = [Int]()
        var count = 1
        for i in 0..<Int(m.n_dims) {
            let d = m.dims[i]
            guard d >= 0, d <= Int64(Int32.max) else { throw ConvertError("\(label): dimension \(d) is out of range") }
            dims.append(Int(d))
            let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p <= Int(Int32.max) * 8 else { throw ConvertError("\(label): shape \(dims) is too large") }
            count = p
        }
        let type = dtype(m.data_type)
        func mapped(_ bytes: UnsafeRawBufferPointer, in f: MappedFile) throws -> ONNXTensor {
            guard let size = byteSize(type) else {
                throw ConvertError("\(label) has \(type.name); weights must be float32, float16, bfloat16 or float64")
            }
            guard bytes.count == count * size else {
                throw ConvertError("\(label): shape \(dims) of \(type.name) needs \(count * size) bytes, found \(bytes.count)")
            }
            let t = StateDictTensor(name: name, dtype: type, shape: dims, bytes: { bytes }, file: f)
            return ONNXTensor(name: name, dims: dims, payload: .mapped(t))
        }
        if m.has_data_location != 0 && m.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            var location = "", start = 0, size: Int?
            for i in 0..<Int(m.n_external_data) {
                guard let e = m.external_data[i]?.pointee else { continue }
                let key = e.key.map { String(cString: $0) } ?? "", value = e.value.map { String(cString: $0) } ?? ""
                switch key {
                case "location": location = value
                case "offset":
                    guard let v = Int(value), v >= 0 else { throw ConvertError("\(label): external data offset '\(value)' is not a non-negative integer") }
                    start = v
                case "length":
                    guard let v = Int(value), v >= 0 else { throw ConvertError("\(label): external data length '\(value)' is not a non-negative integer") }
                    size = v
                default: break  // checksum, basepath: not needed to read the bytes
                }
            }
            let f = try external.file(location, tensor: name)
            let length = size ?? (f.count - min(start, f.count))
            guard start <= f.count, length <= f.count - start else {
                throw ConvertError("\(label): external data bytes \(start)..<\(start + length) lie outside '\(location)' (\(f.count) bytes)")
            }
            return try mapped(UnsafeRawBufferPointer(start: f.base + start, count: length), in: f)
        }
        if let r = rawData { return try mapped(UnsafeRawBufferPointer(start: base + Int(r.value), count: r.length), in: file) }
        if let r = floatData {
            guard type == .f32 else { throw ConvertError("\(label): float_data given for \(type.name)") }
            return try mapped(UnsafeRawBufferPointer(start: base + Int(r.value), count: r.length), in: file)
        }
        // Values decoded by protobuf-c: float_data (FLOAT, FLOAT16/BFLOAT16 as in int32_data are not read), double_data, int64_data.
        let values: Payload
        let found: Int
        switch type {
        case .f32:
            found = Int(m.n_float_data)
            values = .floats((0..<found).map { m.float_data[$0] })
        case .f64:
            found = Int(m.n_double_data)
            values = .floats((0..<found).map { Float(m.double_data[$0]) })
        case .other("int64"):
            found = Int(m.n_int64_data)
            values = .integers((0..<found).map { m.int64_data[$0] })
        default:
            throw ConvertError("\(label) has \(type.name) without raw_data; weights must be float32, float16, bfloat16 or float64")
        }
        guard found == count else { throw ConvertError("\(label): shape \(dims) holds \(count) values, found \(found)") }
        return ONNXTensor(name: name, dims: dims, payload: values)
    }
}
