// NumPy .npz output: a ZIP archive (stored, no compression) of .npy arrays, which
// numpy.load reads directly.
import Glibc
import VGGFormat

struct NPYArray {
    var name: String
    var shape: [Int]
    /// float32 values, or nil with `strings` for a text array.
    var floats: [Float]?
    var strings: [String]?
}

enum NPZWriter {
    static func npy(_ a: NPYArray) -> [UInt8] {
        var descr = "<f4"
        var payload = [UInt8]()
        if let f = a.floats {
            payload = f.withUnsafeBytes { Array($0) }
        } else if let s = a.strings {
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
        return out + payload
    }

    /// Writes the arrays as `<name>.npy` entries of a ZIP file (sizes below 4 GiB).
    static func write(_ arrays: [NPYArray], to path: String) throws {
        var zip = [UInt8](), central = [UInt8]()
        func u16(_ v: Int, _ b: inout [UInt8]) { b += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ b: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        for a in arrays {
            let data = npy(a)
            if data.count >= Int(UInt32.max) { throw ImageError(description: "array '\(a.name)' is over 4 GiB, too large for .npz") }
            let name = Array((a.name + ".npy").utf8)
            let crc = data.withUnsafeBytes { CRC32.checksum($0) }
            let offset = UInt32(zip.count)
            u32(0x0403_4B50, &zip); u16(20, &zip); u16(0, &zip); u16(0, &zip); u16(0, &zip); u16(0x21, &zip)
            u32(crc, &zip); u32(UInt32(data.count), &zip); u32(UInt32(data.count), &zip)
            u16(name.count, &zip); u16(0, &zip); zip += name; zip += data
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0x21, &central); u32(crc, &central); u32(UInt32(data.count), &central)
            u32(UInt32(data.count), &central); u16(name.count, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(offset, &central); central += name
        }
        let centralOffset = UInt32(zip.count)
        zip += central
        u32(0x0605_4B50, &zip); u16(0, &zip); u16(0, &zip); u16(arrays.count, &zip); u16(arrays.count, &zip)
        u32(UInt32(central.count), &zip); u32(centralOffset, &zip); u16(0, &zip)
        guard let f = fopen(path, "wb") else { throw ImageError(description: "cannot write '\(path)': \(String(cString: strerror(errno)))") }
        let written = zip.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        if fclose(f) != 0 || written != zip.count {
            throw ImageError(description: "writing '\(path)' failed: \(String(cString: strerror(errno)))")
        }
    }
}
