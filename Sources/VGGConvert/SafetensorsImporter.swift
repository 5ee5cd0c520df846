// Reads safetensors files: a little-endian u64 header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data. Everything is validated before
// any tensor is used, as the format's spec asks: known dtypes, sizes = dtype × shape, ranges in
// bounds, not overlapping and covering the whole data (no holes). Facts: docs/SOURCE_FORMATS.md (PyTorch, safetensors, ONNX).
import Foundation
import VGGFormat

enum SafetensorsImporter {
    /// The reference implementation's limit on the header (100 MB).
    static let maxHeaderBytes = 100_000_000
    /// Bytes per element of the spec's dtypes (sub-byte ones are not read).
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
        "C64": 8,
    ]

    /// A plausible header length (under 4 GiB; the reader gives the precise errors) followed by '{'.
    static func looksLikeSafetensors(_ head: UnsafeRawBufferPointer) -> Bool {
        guard head.count >= 9, head[8] == UInt8(ascii: "{") else { return false }
        let n = head.loadUnaligned(as: UInt64.self).littleEndian
        return n >= 2 && n < 1 << 32
    }

    static func importFile(path: String, inputSize: Int?) throws -> CanonicalNetwork {
        let file = try mapConverterInput(path)
        let tensors = try readTensors(file, what: "'\(path)'")
        var net = CanonicalNetwork(name: TorchImporter.modelName(path))
        if let s = inputSize { net.inputHeight = s; net.inputWidth = s }
        try TorchVGGBuilder.build(tensors, what: "'\(path)'", into: &net)
        return net
    }

    static func readTensors(_ file: MappedFile, what: String) throws -> [String: StateDictTensor] {
        func fail(_ m: String) -> ConvertError { ConvertError("\(what): safetensors: \(m)") }
        guard file.count >= 8 else { throw fail("\(file.count) bytes, shorter than the 8-byte header length") }
        let declared = file.base.loadUnaligned(as: UInt64.self).littleEndian
        guard declared <= UInt64(maxHeaderBytes) else { throw fail("header length \(declared) exceeds the \(maxHeaderBytes)-byte limit") }
        let headerLength = Int(declared)
        guard headerLength <= file.count - 8 else {
            throw fail("header length \(headerLength) runs past the end of the \(file.count)-byte file; the file is truncated")
        }
        let header = Data(bytes: file.base + 8, count: headerLength)
        guard header.first == UInt8(ascii: "{") else { throw fail("the header does not start with '{'") }
        guard let json = try? JSONSerialization.jsonObject(with: header), let top = json as? [String: Any] else {
            throw fail("the \(headerLength)-byte header is not a JSON object")
        }
        let dataStart = 8 + headerLength, dataSize = file.count - dataStart
        var ranges = [(begin: Int, end: Int, name: String)]()
        var tensors = [String: StateDictTensor]()
        for (name, value) in top {
            if name == "__metadata__" {
                guard value is [String: String] else { throw fail("__metadata__ must map strings to strings") }
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [Any], let offsetValues = entry["data_offsets"] as? [Any] else {
                throw fail("tensor '\(name)' lacks a string dtype, a shape list or a data_offsets list")
            }
            guard let size = dtypeSizes[dtypeName] else { throw fail("tensor '\(name)' has unknown dtype '\(dtypeName)'") }
            let shape = shapeValues.compactMap { ($0 as? NSNumber).flatMap(exactInt) }
            guard shape.count == shapeValues.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)': shape \(shapeValues) is not a list of non-negative integers")
            }
            let offsets = offsetValues.compactMap { ($0 as? NSNumber).flatMap(exactInt) }
            guard offsets.count == 2, offsetValues.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor '\(name)': data_offsets \(offsetValues) is not [begin, end] with 0 ≤ begin ≤ end")
            }
            var bytes = size
            for d in shape {
                let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor '\(name)': shape \(shape) overflows") }
                bytes = p
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard end - begin == bytes else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes, but \(dtypeName) × \(shape) is \(bytes)")
            }
            guard end <= dataSize else {
                throw fail("tensor '\(name)': data_offsets end \(end) is past the \(dataSize) data bytes; the file is truncated")
            }
            ranges.append((begin, end, name))
            let dtype: StateDictTensor.DType
            switch dtypeName {
            case "F32": dtype = .f32
            case "F16": dtype = .f16
            case "BF16": dtype = .bf16
            case "F64": dtype = .f64
            default: dtype = .other(dtypeName)
            }
            let start = dataStart + begin
            tensors[name] = StateDictTensor(name: name, dtype: dtype, shape: shape, bytes: {
                UnsafeRawBufferPointer(start: file.base + start, count: bytes)
            }, file: file)
        }
        // The ranges must tile the data exactly: no overlaps, no holes, nothing after.
        var covered = 0
        for r in ranges.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if r.begin < covered { throw fail("tensor '\(r.name)' (bytes \(r.begin)..<\(r.end)) overlaps another tensor") }
            if r.begin > covered { throw fail("bytes \(covered)..<\(r.begin) of the data belong to no tensor (a hole before '\(r.name)')") }
            covered = r.end
        }
        if covered != dataSize { throw fail("the tensors cover \(covered) of the \(dataSize) data bytes") }
        return tensors
    }

    /// An integral JSON number as Int (nil for fractions, booleans and out-of-range values).
    static func exactInt(_ n: NSNumber) -> Int? {
        let d = n.doubleValue
        guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return n.intValue
    }
}
