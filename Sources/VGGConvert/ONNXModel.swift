// Reads an ONNX ModelProto into what the importer needs: the graph's nodes (decoded one by one
// by protobuf-c), its initializers (headers only; see ONNXTensor) and its inputs and outputs.
// The model and graph are split with ProtobufScanner, so the file is never decoded whole.
// Facts and sources: docs/SOURCE_FORMATS.md (PyTorch, safetensors, ONNX).
import COnnxProto
import CProtobufC
import Glibc

enum ONNXAttribute {
    case int(Int64), float(Float), ints([Int64]), floats([Float]), string(String), tensor(ONNXTensor)
    /// A kind the importer never needs (graphs, type protos, …): its AttributeType value.
    case other(UInt32)
}

struct ONNXNode {
    var index: Int
    var name: String
    var opType: String
    var domain: String
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: ONNXAttribute]

    /// How error messages name the node.
    var label: String { "node '\(name.isEmpty ? "#\(index)" : name)' (\(opType))" }

    func int(_ key: String, default d: Int64) throws -> Int64 {
        switch attributes[key] {
        case nil: return d
        case let .int(v)?: return v
        default: throw ConvertError("\(label): attribute '\(key)' should be an integer")
        }
    }

    func float(_ key: String, default d: Float) throws -> Float {
        switch attributes[key] {
        case nil: return d
        case let .float(v)?: return v
        default: throw ConvertError("\(label): attribute '\(key)' should be a float")
        }
    }

    func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case nil: return nil
        case let .ints(v)?:
            guard v.allSatisfy({ $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }) else {
                throw ConvertError("\(label): attribute '\(key)' \(v) is out of range")
            }
            return v.map { Int($0) }
        default: throw ConvertError("\(label): attribute '\(key)' should be a list of integers")
        }
    }

    func string(_ key: String) throws -> String? {
        switch attributes[key] {
        case nil: return nil
        case let .string(v)?: return v
        default: throw ConvertError("\(label): attribute '\(key)' should be a string")
        }
    }
}

/// A graph input or output: its name and, where the file gives them, its dimensions (nil for
/// symbolic or unknown ones).
struct ONNXValueInfo {
    var name: String
    var dims: [Int?]?
}

struct ONNXGraph {
    var irVersion: Int64 = 0
    /// The default domain's opset version (0 if the model imports none).
    var opsetVersion: Int64 = 0
    var nodes: [ONNXNode] = []
    var initializers: [String: ONNXTensor] = [:]
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
}

private func text(_ base: UnsafeRawPointer, _ f: WireField) -> String {
    String(decoding: UnsafeRawBufferPointer(start: base + Int(f.value), count: f.length), as: UTF8.self)
}

private func cText(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

extension ONNXGraph {
    /// True when the bytes look like the start of a ModelProto: ir_version (field 1, a small
    /// varint) first, as every writer (protobuf serialises fields in number order) puts it,
    /// then a field ModelProto has, length-delimited (producer, domain, doc, graph, opsets, …)
    /// or model_version.
    static func looksLikeModel(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 3, bytes[0] == 0x08, bytes[1] >= 1, bytes[1] <= 0x7F else { return false }
        let key = bytes[2]
        // Fields 2-8 and 14 take one key byte; 20, 25 and 26 (training_info, functions, configuration) two.
        return [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72].contains(key)
            || ([0xA2, 0xCA, 0xD2].contains(key) && bytes.count > 3 && bytes[3] == 0x01)
    }

    static func read(file: MappedFile, path: String) throws -> ONNXGraph {
        var g = ONNXGraph()
        let top: [WireField]
        do {
            top = try ProtobufScanner(base: file.base, count: file.count).fields()
        } catch let e as ConvertError {
            throw ConvertError("'\(path)' is not a valid ONNX model (ModelProto): \(e.message)")
        }
        var graph: WireField?
        for f in top {
            switch (f.number, f.wireType) {
            case (1, 0): g.irVersion = Int64(bitPattern: f.value)
            case (7, 2):
                if graph != nil { throw ConvertError("'\(path)' has more than one graph") }
                graph = f
            case (8, 2):
                let bytes = UnsafeRawBufferPointer(start: file.base + Int(f.value), count: f.length)
                let message = bytes.withMemoryRebound(to: UInt8.self) { b in
                    onnx__operator_set_id_proto__unpack(nil, b.count, b.baseAddress)
                }
                guard let message else { throw ConvertError("'\(path)': an opset_import entry is malformed") }
                let domain = cText(message.pointee.domain)
                if domain.isEmpty || domain == "ai.onnx" { g.opsetVersion = message.pointee.version }
                onnx__operator_set_id_proto__free_unpacked(message, nil)
            default: break
            }
        }
        guard let graph else { throw ConvertError("'\(path)' is an ONNX model without a graph") }
        let gbase = file.base + Int(graph.value)
        let fields: [WireField]
        do {
            fields = try ProtobufScanner(base: gbase, count: graph.length).fields()
        } catch let e as ConvertError {
            throw ConvertError("'\(path)': the graph is malformed: \(e.message)")
        }
        let external = ONNXExternalFiles(modelPath: path)
        for f in fields where f.wireType == 2 {
            let at = Int(graph.value) + Int(f.value)
            switch f.number {
            case 1: g.nodes.append(try decodeNode(UnsafeRawBufferPointer(start: gbase + Int(f.value), count: f.length), index: g.nodes.count, at: at))
            case 5:
                let t = try ONNXTensor.decode(file: file, offset: at, length: f.length, external: external,
                                              what: "initializer \(g.initializers.count) at byte \(at)")
                if g.initializers[t.name] != nil { throw ConvertError("'\(path)': two initializers are named '\(t.name)'") }
                g.initializers[t.name] = t
            case 11, 12:
                let info = try valueInfo(gbase + Int(f.value), f.length)
                if f.number == 11 { g.inputs.append(info) } else { g.outputs.append(info) }
            default: break
            }
        }
        return g
    }

    static func decodeNode(_ bytes: UnsafeRawBufferPointer, index: Int, at: Int) throws -> ONNXNode {
        let message = bytes.withMemoryRebound(to: UInt8.self) { b in
            onnx__node_proto__unpack(nil, b.count, b.baseAddress)
        }
        guard let message else { throw ConvertError("node \(index) at byte \(at) is not a valid NodeProto (malformed protobuf)") }
        defer { onnx__node_proto__free_unpacked(message, nil) }
        let m = message.pointee
        var node = ONNXNode(index: index, name: cText(m.name), opType: cText(m.op_type), domain: cText(m.domain),
                            inputs: (0..<Int(m.n_input)).map { cText(m.input[$0]) },
                            outputs: (0..<Int(m.n_output)).map { cText(m.output[$0]) }, attributes: [:])
        for i in 0..<Int(m.n_attribute) {
            guard let a = m.attribute[i]?.pointee else { continue }
            let name = cText(a.name)
            let value: ONNXAttribute
            switch a.type {
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: value = .int(a.i)
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: value = .float(a.f)
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: value = .ints((0..<Int(a.n_ints)).map { a.ints[$0] })
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: value = .floats((0..<Int(a.n_floats)).map { a.floats[$0] })
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
                value = .string(a.s.data.map { String(decoding: UnsafeBufferPointer(start: $0, count: a.s.len), as: UTF8.self) } ?? "")
            case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
                value = .tensor(try constantTensor(a.t, node: node.label))
            default: value = .other(a.type.rawValue)
            }
            node.attributes[name] = value
        }
        return node
    }

    /// A Constant node's small tensor (Reshape's shape), values copied out of the message.
    static func constantTensor(_ t: UnsafeMutablePointer<Onnx__TensorProto>?, node: String) throws -> ONNXTensor {
        guard let t = t?.pointee else { throw ConvertError("\(node): tensor attribute without a tensor") }
        let dims = (0..<Int(t.n_dims)).map { Int(clamping: t.dims[$0]) }
        let count = dims.reduce(1) { $0.multipliedReportingOverflow(by: max(0, $1)).overflow ? Int.max : $0 * max(0, $1) }
        let name = cText(t.name)
        if t.data_type == 7 {
            var values = (0..<Int(t.n_int64_data)).map { t.int64_data[$0] }
            if t.has_raw_data != 0, let d = t.raw_data.data {
                values = (0..<(t.raw_data.len / 8)).map { i in
                    UnsafeRawPointer(d).loadUnaligned(fromByteOffset: 8 * i, as: Int64.self).littleEndian
                }
            }
            guard values.count == count else { throw ConvertError("\(node): its tensor's shape \(dims) holds \(count) values, found \(values.count)") }
            return ONNXTensor(name: name, dims: dims, payload: .integers(values))
        }
        throw ConvertError("\(node): only int64 constants (a Reshape's shape) are supported, found data_type \(t.data_type)")
    }

    /// ValueInfoProto: name (1), type (2) → TypeProto.tensor_type (1) → shape (2) → dim (1) → dim_value (1).
    static func valueInfo(_ base: UnsafeRawPointer, _ count: Int) throws -> ONNXValueInfo {
        func sub(_ b: UnsafeRawPointer, _ f: WireField) -> (UnsafeRawPointer, Int) { (b + Int(f.value), f.length) }
        var info = ONNXValueInfo(name: "", dims: nil)
        for f in try ProtobufScanner(base: base, count: count).fields() where f.wireType == 2 {
            if f.number == 1 { info.name = text(base, f) }
            guard f.number == 2 else { continue }
            let (tb, tc) = sub(base, f)
            for tf in try ProtobufScanner(base: tb, count: tc).fields() where tf.number == 1 && tf.wireType == 2 {
                let (sb, sc) = sub(tb, tf)
                for sf in try ProtobufScanner(base: sb, count: sc).fields() where sf.number == 2 && sf.wireType == 2 {
                    let (db, dc) = sub(sb, sf)
                    var dims = [Int?]()
                    for df in try ProtobufScanner(base: db, count: dc).fields() where df.number == 1 && df.wireType == 2 {
                        let (vb, vc) = sub(db, df)
                        let value = try ProtobufScanner(base: vb, count: vc).fields().first { $0.number == 1 && $0.wireType == 0 }
                        dims.append(value.flatMap { $0.value <= UInt64(Int32.max) ? Int($0.value) : nil })
                    }
                    info.dims = dims
                }
            }
        }
        return info
    }
}
