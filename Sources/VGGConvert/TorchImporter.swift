// Reads PyTorch torch.save files (the zip format, default since torch 1.6): the archive's
// data.pkl is interpreted by PickleReader (never executed), the state dict found in it (or in a
// checkpoint's "state_dict" / "model" / "model_state_dict"), and each tensor served in place
// from its storage entry `<prefix>/data/<key>`. Facts: docs/SOURCE_FORMATS.md (PyTorch, safetensors, ONNX).
import VGGFormat

enum TorchImporter {
    /// Entries of a training checkpoint that hold the model's state dict, tried in order.
    static let checkpointKeys = ["state_dict", "model_state_dict", "model"]

    static func importFile(path: String, inputSize: Int?) throws -> CanonicalNetwork {
        let file = try mapConverterInput(path)
        let zip = try ZipArchive(file: file, path: path)
        let what = "'\(path)'"
        let pickles = zip.names.filter { $0.hasSuffix("/data.pkl") && $0.split(separator: "/", omittingEmptySubsequences: false).count == 2 }
        guard pickles.count == 1, let pickleName = pickles.first else {
            if pickles.isEmpty {
                throw ConvertError("\(what) is a zip archive but not a torch.save file (no <name>/data.pkl entry)")
            }
            throw ConvertError("\(what) holds \(pickles.count) data.pkl entries; a torch.save file has one")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if zip.entries[prefix + "constants.pkl"] != nil || zip.names.contains(where: { $0.hasPrefix(prefix + "code/") }) {
            throw ConvertError("\(what) is a TorchScript archive (torch.jit.save); in Python, save the weights instead: torch.save(model.state_dict(), 'vgg.pth')")
        }
        if zip.entries[prefix + "byteorder"] != nil {
            let order = String(decoding: try zip.bytes(of: prefix + "byteorder"), as: UTF8.self)
            if order != "little" { throw ConvertError("\(what) was saved with byte order '\(order)'; only little-endian files are read") }
        }
        let views = try PickleReader.read(try zip.bytes(of: pickleName), what: what) { try stateDict(in: $0.value, what: what) }

        var tensors = [String: StateDictTensor]()
        for (name, v) in views {
            let entryName = prefix + "data/" + v.storage.key
            guard let entry = zip.entries[entryName] else {
                throw ConvertError("\(what): tensor '\(name)' refers to storage '\(v.storage.key)' but the archive has no entry '\(entryName)'")
            }
            tensors[name] = try tensor(name, v, storageBytes: entry.size, file: file, what: what) { try zip.bytes(of: entryName) }
        }
        var net = CanonicalNetwork(name: modelName(path))
        if let s = inputSize { net.inputHeight = s; net.inputWidth = s }
        try TorchVGGBuilder.build(tensors, what: what, into: &net)
        return net
    }

    static func modelName(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.split(separator: ".").first.map(String.init) ?? base
    }

    /// The tensors of the state dict in the unpickled value: the top-level dict itself or the
    /// dict under a checkpoint key. Later duplicates of a key win, as in Python.
    static func stateDict(in value: PickleValue, what: String) throws -> [(String, TorchTensorView)] {
        guard case let .box(top) = value, !top.isList else {
            throw ConvertError("\(what) holds a pickled \(value.kind), not a state dict; save model.state_dict()")
        }
        func tensors(_ box: PickleBox) -> [(String, TorchTensorView)] {
            var order = [String](), byName = [String: TorchTensorView]()
            for (k, v) in box.items {
                guard case let .string(name) = k, case let .tensor(t) = v else { continue }
                if byName.updateValue(t, forKey: name) == nil { order.append(name) }
            }
            return order.compactMap { n in byName[n].map { (n, $0) } }
        }
        // A checkpoint's model entry first: its other entries may be tensors too (best_acc1).
        for key in checkpointKeys {
            for case let (.string(k), .box(inner)) in top.items.reversed() where k == key && !inner.isList {
                let found = tensors(inner)
                if !found.isEmpty { return found }
            }
        }
        let direct = tensors(top)
        if !direct.isEmpty { return direct }
        let keys = top.items.compactMap { k, _ -> String? in if case let .string(s) = k { return "'\(s)'" } else { return nil } }
        throw ConvertError("\(what) holds a dict without tensors (keys: \(keys.prefix(6).joined(separator: ", "))\(keys.count > 6 ? ", …" : "")) and no \(checkpointKeys.map { "'\($0)'" }.joined(separator: "/")) entry holding a state dict")
    }

    /// Checks a tensor view against its storage's bytes (`storageBytes` of them, served by
    /// `storage`): contiguous, in bounds, a known dtype.
    static func tensor(_ name: String, _ v: TorchTensorView, storageBytes: Int, file: MappedFile, what: String,
                       storage: @escaping () throws -> UnsafeRawBufferPointer) throws -> StateDictTensor {
        let size = v.storage.dtype.size
        var elements = 1
        for d in v.shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            if overflow { throw ConvertError("\(what): tensor '\(name)' size \(v.shape) overflows") }
            elements = p
        }
        // Row-major contiguous: each stride is the product of the later sizes (any stride for a size-1 dimension).
        var expected = 1
        for d in stride(from: v.shape.count - 1, through: 0, by: -1) {
            if v.shape[d] != 1 && v.stride[d] != expected {
                throw ConvertError("\(what): tensor '\(name)' has size \(v.shape) and stride \(v.stride): not contiguous (saved from a transposed or sliced view); call .contiguous() on it before saving")
            }
            expected = expected &* max(v.shape[d], 1)
        }
        let (wanted, o1) = v.storage.count.multipliedReportingOverflow(by: size)
        guard !o1, storageBytes == wanted else {
            throw ConvertError("\(what): storage '\(v.storage.key)' of tensor '\(name)' should hold \(v.storage.count) \(v.storage.dtype.rawValue) elements (\(v.storage.count &* size) bytes) but has \(storageBytes) bytes")
        }
        // A legacy view starts inside its storage; the tensor's offset counts from the view.
        let (viewStart, viewCount) = v.storage.view ?? (0, v.storage.count)
        guard v.offset <= viewCount, elements <= viewCount - v.offset else {
            throw ConvertError("\(what): tensor '\(name)' (offset \(v.offset), \(elements) elements) runs past its storage of \(viewCount) elements")
        }
        let dtype: StateDictTensor.DType
        switch v.storage.dtype {
        case .float32: dtype = .f32
        case .float16: dtype = .f16
        case .bfloat16: dtype = .bf16
        case .float64: dtype = .f64
        default: dtype = .other(v.storage.dtype.rawValue.lowercased())
        }
        let offset = (viewStart + v.offset) * size, count = elements * size
        return StateDictTensor(name: name, dtype: dtype, shape: v.shape, bytes: {
            let all = try storage()
            return UnsafeRawBufferPointer(rebasing: all[offset..<(offset + count)])
        }, file: file)
    }
}
