// Walks the top-level fields of a protobuf message without decoding their payloads. The
// converter uses it to split a NetParameter into its layer records, so protobuf-c decodes
// one layer at a time and a 550 MB caffemodel never exists twice in memory.

struct WireField {
    let number: UInt64
    let wireType: UInt8
    /// Varint value (wire type 0), or the payload's start offset (types 1, 2, 5).
    let value: UInt64
    /// Payload bytes for wire types 1, 2, 5 (0 for varints).
    let length: Int
    /// Offset of the field's key in the buffer.
    let keyOffset: Int
    /// Offset just past the field.
    let end: Int
}

struct ProtobufScanner {
    let base: UnsafeRawPointer
    let count: Int

    func varint(at offset: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < count else { throw ConvertError("truncated varint at byte \(offset)") }
            let b = base.load(fromByteOffset: offset, as: UInt8.self)
            offset += 1
            if shift == 63 && b > 1 { throw ConvertError("varint longer than 64 bits at byte \(offset - 1)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ConvertError("varint longer than 10 bytes at byte \(offset - 1)") }
        }
    }

    /// Every top-level field of the message occupying the whole buffer, in order.
    func fields() throws -> [WireField] {
        var out = [WireField]()
        var at = 0
        while at < count {
            let keyAt = at
            let key = try varint(at: &at)
            let number = key >> 3, wire = UInt8(key & 7)
            if number == 0 { throw ConvertError("field number 0 at byte \(keyAt)") }
            switch wire {
            case 0:
                let v = try varint(at: &at)
                out.append(WireField(number: number, wireType: 0, value: v, length: 0, keyOffset: keyAt, end: at))
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard count - at >= n else { throw ConvertError("truncated fixed\(n * 8) field \(number) at byte \(keyAt)") }
                out.append(WireField(number: number, wireType: wire, value: UInt64(at), length: n, keyOffset: keyAt, end: at + n))
                at += n
            case 2:
                let len = try varint(at: &at)
                guard len <= UInt64(count - at) else {
                    throw ConvertError("field \(number) at byte \(keyAt) declares \(len) bytes but only \(count - at) remain (truncated file?)")
                }
                out.append(WireField(number: number, wireType: 2, value: UInt64(at), length: Int(len), keyOffset: keyAt, end: at + Int(len)))
                at += Int(len)
            default:
                throw ConvertError("unsupported wire type \(wire) for field \(number) at byte \(keyAt)")
            }
        }
        return out
    }
}

/// Appends a varint in protobuf encoding.
func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7F) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}
