// Reads PyTorch files in the legacy torch.save format (torch 0.1.10 to 1.5, and any torch with
// _use_new_zipfile_serialization=False), which torchvision's own VGG downloads use
// (vgg16-397923af.pth, 2017): five pickles in a row — the magic number, protocol version 1001,
// system info, the saved object, the list of storage keys — then each listed storage as an
// int64 element count and its raw bytes. The pickles go through PickleReader (never executed).
import VGGFormat

enum TorchLegacyImporter {
    /// pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2): PROTO 2, LONG1 of 10 bytes, STOP.
    static let magicPickle: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
    static let protocolVersion = 1001

    /// A pickle's first bytes (PROTO 2…5): the legacy format, or a bare pickle refused by name.
    static func looksLikePickle(_ head: UnsafeRawBufferPointer) -> Bool {
        head.count >= 2 && head[0] == 0x80 && (2...5).contains(head[1])
    }

    static func importFile(path: String, inputSize: Int?) throws -> CanonicalNetwork {
        let file = try mapConverterInput(path)
        let what = "'\(path)'"
        let all = UnsafeRawBufferPointer(start: file.base, count: file.count)
        guard all.starts(with: magicPickle) else {
            throw ConvertError("\(what) is a pickle but not a torch.save file (no torch magic number); only state dicts saved by torch.save are read")
        }
        var at = magicPickle.count
        func next<T>(_ body: (PickleReader.Result) throws -> T) throws -> T {
            try PickleReader.read(UnsafeRawBufferPointer(rebasing: all[at...]), what: what) { r in
                at += r.length
                return try body(r)
            }
        }
        try next { r in
            guard case let .int(v) = r.value, v == protocolVersion else {
                throw ConvertError("\(what): legacy torch.save protocol version \(r.value.kind == "int" ? "\(r.value)" : r.value.kind); expected \(protocolVersion)")
            }
        }
        try next { r in
            guard case let .box(info) = r.value, !info.isList else { throw ConvertError("\(what): the legacy system-info pickle is not a dict") }
            for case let (.string("little_endian"), .bool(little)) in info.items where !little {
                throw ConvertError("\(what) was saved on a big-endian machine; only little-endian files are read")
            }
        }
        let (views, storages) = try next { r in (try TorchImporter.stateDict(in: r.value, what: what), r.storages) }
        let keys: [String] = try next { r in
            guard case let .box(list) = r.value, list.isList else { throw ConvertError("\(what): the legacy storage-key list is not a list") }
            return try list.elements.map { e in
                guard case let .string(k) = e else { throw ConvertError("\(what): a storage key is a \(e.kind), not a string") }
                return k
            }
        }

        // The storages follow in the order of `keys`; their element sizes come from the persistent ids.
        var dtypes = [String: TorchStorage]()
        for s in storages {
            if let seen = dtypes[s.key], seen.dtype != s.dtype || seen.count != s.count {
                throw ConvertError("\(what): storage '\(s.key)' is named as \(seen.count) \(seen.dtype.rawValue) and as \(s.count) \(s.dtype.rawValue) elements")
            }
            dtypes[s.key] = s
        }
        var records = [String: (offset: Int, bytes: Int)]()
        for key in keys {
            guard let s = dtypes[key] else { throw ConvertError("\(what): storage '\(key)' is listed but no persistent id names its type") }
            guard at <= file.count - 8 else { throw ConvertError("\(what): storage '\(key)' starts past the end of the file; the file is truncated") }
            let count = Int64(littleEndian: file.base.loadUnaligned(fromByteOffset: at, as: Int64.self))
            guard count == Int64(s.count) else {
                throw ConvertError("\(what): storage '\(key)' holds \(count) elements, its persistent id says \(s.count)")
            }
            let (bytes, overflow) = s.count.multipliedReportingOverflow(by: s.dtype.size)
            guard !overflow, bytes <= file.count - at - 8 else {
                throw ConvertError("\(what): storage '\(key)' (\(s.count) \(s.dtype.rawValue) elements) runs past the end of the file; the file is truncated")
            }
            if records[key] != nil { throw ConvertError("\(what): storage '\(key)' is listed twice") }
            records[key] = (at + 8, bytes)
            at += 8 + bytes
        }

        var tensors = [String: StateDictTensor]()
        for (name, v) in views {
            guard let r = records[v.storage.key] else {
                throw ConvertError("\(what): tensor '\(name)' refers to storage '\(v.storage.key)', which the file does not list")
            }
            tensors[name] = try TorchImporter.tensor(name, v, storageBytes: r.bytes, file: file, what: what) {
                UnsafeRawBufferPointer(start: file.base + r.offset, count: r.bytes)
            }
        }
        var net = CanonicalNetwork(name: TorchImporter.modelName(path))
        if let s = inputSize { net.inputHeight = s; net.inputWidth = s }
        try TorchVGGBuilder.build(tensors, what: what, into: &net)
        return net
    }
}
