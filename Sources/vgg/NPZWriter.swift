// NumPy .npz output: a ZIP archive (stored, no compression) of .npy arrays, which
// numpy.load reads directly. Written through a temporary file renamed over the target, so a
// failed write (a full disk, a file-size limit) leaves any previous file intact.
import AtomicFile
import Glibc
import VGGFormat

struct NPYArray {
    var name: String
    var shape: [Int]
    /// float32 values (owned by the caller until written), or nil with `strings` for a text array.
    var floats: UnsafeBufferPointer<Float>?
    var strings: [String]?
}

enum NPZWriter {
    /// The .npy header of `a` and, for a text array, its payload (float payloads are written
    /// straight from the caller's buffer).
    static func npy(_ a: NPYArray) -> (header: [UInt8], textPayload: [UInt8]) {
        var descr = "<f4"
        var payload = [UInt8]()
        if a.floats == nil, let s = a.strings {
            // Fixed-width UTF-32 ('<U<n>'), as numpy stores str arrays.
            let width = max(1, s.map { $0.unicodeScalars.count }.max() ?? 1)
            descr = "<U\(width)"
            for str in s {
                var scalars = str.unicodeScalars.map(\.value)
                scalars += [UInt32](repeating: 0, count: width - scalars.count)
                for v in scalars { withUnsafeBytes(of: v.littleEndian) { payload += $0 } }
            }
        }
        let shape = a.shape.count == 1 ? "(\(a.shape[0]),)" : "(" + a.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let len = UInt16(header.utf8.count)
        out += [UInt8(len & 0xFF), UInt8(len >> 8)]
        out += Array(header.utf8)
        return (out, payload)
    }

    /// Writes the arrays as `<name>.npy` entries of a ZIP file (entries and archive below
    /// 4 GiB); `path` is replaced only when the whole archive is on disk.
    static func write(_ arrays: [NPYArray], to path: String) throws {
        let out = try AtomicOutput(path: path)
        var offset = 0, central = [UInt8]()
        func u16(_ v: Int, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            try out.write(bytes, at: offset)
            offset += bytes.count
        }
        for a in arrays {
            let (header, text) = npy(a)
            let payload = a.floats.map { UnsafeRawBufferPointer($0) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let size = header.count + text.count + payload.count
            if size >= Int(UInt32.max) || offset >= Int(UInt32.max) - size {
                throw ImageError(description: "array '\(a.name)' takes the archive past 4 GiB, too large for .npz")
            }
            var crc = CRC32()
            header.withUnsafeBytes { crc.update($0) }
            text.withUnsafeBytes { crc.update($0) }
            crc.update(payload)
            let name = Array((a.name + ".npy").utf8)
            var local = [UInt8]()
            u32(0x0403_4B50, &local); u16(20, &local); u16(0, &local); u16(0, &local); u16(0, &local); u16(0x21, &local)
            u32(crc.value, &local); u32(UInt32(size), &local); u32(UInt32(size), &local)
            u16(name.count, &local); u16(0, &local); local += name
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0x21, &central); u32(crc.value, &central); u32(UInt32(size), &central)
            u32(UInt32(size), &central); u16(name.count, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(UInt32(offset), &central); central += name
            try local.withUnsafeBytes(put)
            try header.withUnsafeBytes(put)
            try text.withUnsafeBytes(put)
            try put(payload)
        }
        var end = [UInt8]()
        u32(0x0605_4B50, &end); u16(0, &end); u16(0, &end); u16(arrays.count, &end); u16(arrays.count, &end)
        u32(UInt32(central.count), &end); u32(UInt32(offset), &end); u16(0, &end)
        try central.withUnsafeBytes(put)
        try end.withUnsafeBytes(put)
        try out.commit()
    }
}
