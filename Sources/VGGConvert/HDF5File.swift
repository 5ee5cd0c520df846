// A read-only HDF5 file through libhdf5: groups, string attributes and float datasets, with
// every failure turned into a ConvertError naming the path.
import CHDF5

final class HDF5File {
    let id: hid_t
    let path: String
    /// Seconds a single metadata read may take before the process gives up (0: no limit).
    /// Reading strings is where libhdf5 1.10 can hang on a malformed file.
    static var watchdogSeconds: UInt32 = 60

    init(path: String) throws {
        vggh5_silence_errors()
        self.path = path
        id = vggh5_open_readonly(path)
        if id < 0 { throw ConvertError("'\(path)' has an HDF5 signature but libhdf5 cannot open it (damaged or truncated?)") }
    }

    deinit { H5Fclose(id) }

    func isGroup(_ p: String) -> Bool { vggh5_object_kind(id, p) == 1 }
    func isDataset(_ p: String) -> Bool { vggh5_object_kind(id, p) == 2 }

    /// Names of the links in a group, in name order.
    func children(_ group: String) throws -> [String] {
        let n = vggh5_child_count(id, group)
        if n < 0 { throw ConvertError("'\(path)': cannot list group '\(group)'") }
        if n > 100_000 { throw ConvertError("'\(path)': group '\(group)' has \(n) members, more than any VGG file") }
        var names = [String]()
        var buffer = [CChar](repeating: 0, count: 1024)
        for i in 0..<n {
            let len = vggh5_child_name(id, group, UInt(i), &buffer, buffer.count)
            if len < 0 || len >= buffer.count { throw ConvertError("'\(path)': cannot read member \(i) of '\(group)'") }
            names.append(String(cString: buffer))
        }
        return names
    }

    /// A string or string-array attribute; nil when absent, [] for an empty array.
    func strings(_ object: String, _ attribute: String) throws -> [String]? {
        var raw: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        if HDF5File.watchdogSeconds > 0 { vggh5_watchdog(HDF5File.watchdogSeconds) }
        let n = vggh5_read_strings(id, object, attribute, &raw)
        if HDF5File.watchdogSeconds > 0 { vggh5_watchdog(0) }
        defer { vggh5_free_strings(raw, n) }
        switch n {
        case -1: return nil
        case -2: throw ConvertError("'\(path)': attribute '\(attribute)' of '\(object)' is not a string")
        case ..<0: throw ConvertError("'\(path)': cannot read attribute '\(attribute)' of '\(object)'")
        default:
            guard let raw else { return [] }
            return (0..<n).map { raw[$0].map { String(cString: $0) } ?? "" }
        }
    }

    /// A string attribute that may be split by Keras into `name0`, `name1`, … when over 64 KB.
    func splitStrings(_ object: String, _ attribute: String) throws -> [String]? {
        if let whole = try strings(object, attribute) { return whole }
        var parts = [String]()
        var i = 0
        while let chunk = try strings(object, "\(attribute)\(i)") {
            parts += chunk
            i += 1
        }
        return i == 0 ? nil : parts
    }

    func shape(_ p: String) throws -> [Int] {
        var dims = [UInt64](repeating: 0, count: 8)
        let rank = vggh5_dataset_shape(id, p, &dims)
        switch rank {
        case -1: throw ConvertError("'\(path)': no dataset '\(p)'")
        case -2: throw ConvertError("'\(path)': dataset '\(p)' does not hold numbers")
        case ..<0: throw ConvertError("'\(path)': cannot read the shape of '\(p)'")
        default:
            let shape = dims.prefix(Int(rank)).map { Int(clamping: $0) }
            if shape.contains(where: { $0 > 1 << 31 }) { throw ConvertError("'\(path)': dataset '\(p)' has an implausible shape \(shape)") }
            return shape
        }
    }

    /// The whole dataset as float32 (converted by libhdf5 from its stored number type).
    func floats(_ p: String) throws -> [Float] {
        let count = try shape(p).reduce(1) { a, b in
            let (r, o) = a.multipliedReportingOverflow(by: b)
            if o || r > 1 << 33 { return -1 }
            return r
        }
        if count < 0 { throw ConvertError("'\(path)': dataset '\(p)' is too large") }
        var values = [Float](repeating: 0, count: count)
        let rc = values.withUnsafeMutableBufferPointer { vggh5_read_floats(id, p, $0.baseAddress, UInt64(count)) }
        if rc != 0 { throw ConvertError("'\(path)': cannot read dataset '\(p)' (damaged file?)") }
        return values
    }
}
