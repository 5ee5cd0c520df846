// A read-only zip directory over a mapped file, for torch.save archives: finds the central
// directory (ZIP64 too, which torch's writer uses past 4 GiB), checks every entry's local header
// against it, and hands out stored (uncompressed) entries in place. Compressed or encrypted
// entries are refused: torch.save never writes them.
import VGGFormat

struct ZipEntry {
    var name: String
    /// Offset of the entry's data in the file and its length (stored: compressed = uncompressed).
    var dataOffset: Int
    var size: Int
    var crc: UInt32
    /// 0 stored, 8 deflated, others refused on use.
    var method: Int
}

struct ZipArchive {
    let file: MappedFile
    let path: String
    private(set) var entries: [String: ZipEntry] = [:]
    /// In central-directory order.
    private(set) var names: [String] = []

    static let localHeaderSignature: UInt32 = 0x0403_4b50
    static let centralSignature: UInt32 = 0x0201_4b50
    static let endSignature: UInt32 = 0x0605_4b50
    static let zip64EndSignature: UInt32 = 0x0606_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    /// More entries than any VGG state dict has (a few hundred), a bound on the work a file can ask for.
    static let maxEntries = 100_000

    /// True when the bytes begin like a zip archive (a local file header).
    static func looksLikeZip(_ head: UnsafeRawBufferPointer) -> Bool {
        head.count >= 4 && head.loadUnaligned(as: UInt32.self).littleEndian == localHeaderSignature
    }

    init(file: MappedFile, path: String) throws {
        self.file = file
        self.path = path
        let (directoryOffset, directorySize, count) = try findCentralDirectory()
        var at = directoryOffset
        let end = directoryOffset + directorySize
        for i in 0..<count {
            guard at + 46 <= end, u32(at) == ZipArchive.centralSignature else {
                throw fail("central directory entry \(i) of \(count) is missing or truncated at byte \(at)")
            }
            let flags = Int(u16(at + 8)), method = Int(u16(at + 10))
            let crc = u32(at + 16)
            var compressed = Int(u32(at + 20)), uncompressed = Int(u32(at + 24))
            let nameLength = Int(u16(at + 28)), extraLength = Int(u16(at + 30)), commentLength = Int(u16(at + 32))
            var localOffset = Int(u32(at + 42))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard next <= end else { throw fail("central directory entry \(i) runs past the directory's end") }
            let name = string(at + 46, nameLength)
            // ZIP64 extended information (header 0x0001): the fields whose 32-bit value is all ones, in order.
            var extra = at + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(extra), length = Int(u16(extra + 2))
                guard extra + 4 + length <= extraEnd else { throw fail("entry '\(name)': an extra field runs past its end") }
                if id == 1 {
                    var field = extra + 4
                    func wide(_ value: inout Int) throws {
                        guard value == 0xFFFF_FFFF else { return }
                        guard field + 8 <= extra + 4 + length else { throw fail("entry '\(name)': ZIP64 extra field too short") }
                        let v = u64(field)
                        guard v <= UInt64(Int.max) else { throw fail("entry '\(name)': ZIP64 size \(v) out of range") }
                        value = Int(v)
                        field += 8
                    }
                    try wide(&uncompressed)
                    try wide(&compressed)
                    try wide(&localOffset)
                }
                extra += 4 + length
            }
            if flags & 1 != 0 { throw fail("entry '\(name)' is encrypted") }
            if entries[name] != nil { throw fail("entry '\(name)' appears twice in the central directory") }
            let dataOffset = try checkLocalHeader(name: name, offset: localOffset, method: method, directoryOffset: directoryOffset)
            if method == 0, compressed != uncompressed {
                throw fail("stored entry '\(name)': compressed size \(compressed) differs from its size \(uncompressed)")
            }
            guard compressed <= directoryOffset, dataOffset <= directoryOffset - compressed else {
                throw fail("entry '\(name)': its \(compressed) bytes at offset \(dataOffset) run past the start of the central directory (\(directoryOffset)); the file is truncated or damaged")
            }
            entries[name] = ZipEntry(name: name, dataOffset: dataOffset, size: compressed, crc: crc, method: method)
            names.append(name)
            at = next
        }
    }

    /// The stored bytes of an entry, CRC-checked when `verify` (that reads every byte once).
    func bytes(of name: String, verify: Bool = true) throws -> UnsafeRawBufferPointer {
        guard let e = entries[name] else { throw fail("entry '\(name)' is missing") }
        if e.method == 8 {
            throw fail("entry '\(name)' is deflated (compressed); torch.save stores entries uncompressed, so this archive was re-zipped: re-save it with torch.save, or re-zip with 'zip -0'")
        }
        if e.method != 0 { throw fail("entry '\(name)' uses compression method \(e.method); only stored (0) entries are read") }
        let bytes = UnsafeRawBufferPointer(start: file.base + e.dataOffset, count: e.size)
        if verify {
            // In slices whose pages are dropped once summed: the check does not keep a 400 MB entry resident.
            var crc = CRC32()
            let slice = 8 << 20
            for start in stride(from: 0, to: e.size, by: slice) {
                let length = min(slice, e.size - start)
                crc.update(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
                file.release(offset: e.dataOffset + start, length: length)
            }
            if crc.value != e.crc {
                throw fail("entry '\(name)': CRC-32 \(hex(crc.value)) does not match the directory's \(hex(e.crc)); the file is damaged")
            }
        }
        return bytes
    }

    // MARK: - Structure

    private func findCentralDirectory() throws -> (offset: Int, size: Int, count: Int) {
        let n = file.count
        guard n >= 22 else { throw fail("too short for a zip archive (\(n) bytes)") }
        // The end record is the last 22 bytes plus a comment of up to 65535 bytes.
        var at = n - 22
        let lowest = max(0, n - 22 - 65535)
        while at >= lowest {
            if u32(at) == ZipArchive.endSignature, at + 22 + Int(u16(at + 20)) == n { break }
            at -= 1
        }
        guard at >= lowest else { throw fail("no end-of-central-directory record: the file is truncated or not a zip archive") }
        var count = Int(u16(at + 10)), size = Int(u32(at + 12)), offset = Int(u32(at + 16))
        if u16(at + 4) != 0 || u16(at + 6) != 0 { throw fail("multi-disk archives are not supported") }
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator = at - 20
            guard locator >= 0, u32(locator) == ZipArchive.zip64LocatorSignature else {
                throw fail("the end record asks for ZIP64 but there is no ZIP64 locator before it")
            }
            let record64 = u64(locator + 8)
            guard n >= 56, record64 <= UInt64(n - 56), u32(Int(record64)) == ZipArchive.zip64EndSignature else {
                throw fail("ZIP64 end record missing at offset \(record64)")
            }
            let r = Int(record64)
            let c = u64(r + 32), s = u64(r + 40), o = u64(r + 48)
            guard c <= UInt64(ZipArchive.maxEntries), s <= UInt64(n), o <= UInt64(n) else {
                throw fail("ZIP64 end record: \(c) entries, directory of \(s) bytes at \(o) do not fit a \(n)-byte file")
            }
            (count, size, offset) = (Int(c), Int(s), Int(o))
        }
        guard count <= ZipArchive.maxEntries else { throw fail("\(count) entries; at most \(ZipArchive.maxEntries) are read") }
        guard offset <= n, size <= n - offset else {
            throw fail("central directory (\(size) bytes at offset \(offset)) runs past the end of the \(n)-byte file; the file is truncated")
        }
        return (offset, size, count)
    }

    /// Checks the local header against the central directory; returns the data offset.
    private func checkLocalHeader(name: String, offset: Int, method: Int, directoryOffset: Int) throws -> Int {
        guard offset <= directoryOffset - 30, u32(offset) == ZipArchive.localHeaderSignature else {
            throw fail("entry '\(name)': no local header at offset \(offset)")
        }
        let nameLength = Int(u16(offset + 26)), extraLength = Int(u16(offset + 28))
        let data = offset + 30 + nameLength + extraLength
        guard data <= directoryOffset else { throw fail("entry '\(name)': its local header runs into the central directory") }
        if string(offset + 30, nameLength) != name {
            throw fail("entry '\(name)': the local header names '\(string(offset + 30, nameLength))'")
        }
        if Int(u16(offset + 8)) != method {
            throw fail("entry '\(name)': the local header's compression method \(u16(offset + 8)) differs from the directory's \(method)")
        }
        return data
    }

    // MARK: - Bytes (callers keep offsets in bounds)

    private func u16(_ at: Int) -> UInt16 { file.base.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
    private func u32(_ at: Int) -> UInt32 { file.base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    private func u64(_ at: Int) -> UInt64 { file.base.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
    private func string(_ at: Int, _ length: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: file.base + at, count: length), as: UTF8.self)
    }
    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
    func fail(_ message: String) -> ConvertError { ConvertError("'\(path)': zip: \(message)") }
}
