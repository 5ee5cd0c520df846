// Writes a canonical network as a .vgg file (docs/FORMAT.md): tensors pre-packed in the
// kernels' layouts (OBLOCK16; OGROUP1024 for f32 fc layers) and converted to the requested
// dtype, streamed to an atomic output one block of 16 output channels (or one group of 1024)
// at a time, then the header and tables with their CRCs.
import AtomicFile
import Glibc
import VGGFormat

/// Little-endian field writer over a fixed-size byte array.
struct ByteTable {
    var bytes: [UInt8]
    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }
    mutating func u32(_ at: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { copy($0, at) } }
    mutating func u64(_ at: Int, _ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { copy($0, at) } }
    mutating func f32(_ at: Int, _ v: Float) { u32(at, v.bitPattern) }
    mutating func strref(_ at: Int, _ r: (UInt32, UInt32)) { u32(at, r.0); u32(at + 4, r.1) }
    private mutating func copy(_ src: UnsafeRawBufferPointer, _ at: Int) {
        for (i, b) in src.enumerated() { bytes[at + i] = b }
    }
}

/// The string table: starts with the empty string; every entry NUL-terminated.
struct StringTableBuilder {
    var bytes: [UInt8] = [0]
    mutating func add(_ s: String, maxLength: Int, what: String) throws -> (UInt32, UInt32) {
        let utf8 = Array(s.utf8)
        if utf8.isEmpty { return (0, 0) }
        if utf8.count > maxLength { throw ConvertError("\(what) '\(s)' is \(utf8.count) bytes; the format allows \(maxLength)") }
        if utf8.contains(0) { throw ConvertError("\(what) '\(s)' contains a NUL byte") }
        let offset = bytes.count
        bytes += utf8
        bytes.append(0)
        return (UInt32(offset), UInt32(utf8.count))
    }
}

struct PlannedTensor {
    var name: String
    var layout: TensorLayout
    var dtype: DType
    var dims: (Int, Int, Int, Int)
    var byteLength: Int
    var offset = 0
    var crc: UInt32 = 0
}

public enum VGGWriter {
    /// Writes `net` to `path` atomically; nothing appears at `path` unless this succeeds.
    /// `formatVersion` 2 (the default) stores the f32 fc layers' weights in OGROUP1024; 1 writes
    /// OBLOCK16 throughout, for readers that know only version 1.
    public static func write(_ net: CanonicalNetwork, to path: String, dtype: DType, formatVersion: UInt32 = VGGFile.version,
                             showProgress: Bool) throws {
        try validate(net)
        guard (VGGFile.oldestVersion...VGGFile.version).contains(formatVersion) else {
            throw ConvertError("format version: expected \(VGGFile.oldestVersion)…\(VGGFile.version), found \(formatVersion)")
        }
        // Plan tensors: for each convolution its weight, then its bias.
        var tensors = [PlannedTensor]()
        var tensorIndex = [(weight: Int, bias: Int?)]()
        let firstFC = firstFCLayer(net.layers.map(\.kind)) ?? net.layers.count
        for (li, l) in net.layers.enumerated() {
            guard l.kind == .convolution else { tensorIndex.append((-1, nil)); continue }
            let dims = (l.outChannels, l.inChannels, l.kernelH, l.kernelW)
            let elements = (l.outChannels + 15) / 16 * 16 * l.inChannels * l.kernelH * l.kernelW
            let layout: TensorLayout = li >= firstFC && dtype == .f32 && formatVersion >= 2 ? .oGroup1024 : .oBlock16
            tensors.append(PlannedTensor(name: l.name + ".weight", layout: layout, dtype: dtype, dims: dims, byteLength: elements * dtype.size))
            let w = tensors.count - 1
            var b: Int? = nil
            if l.hasBias {
                tensors.append(PlannedTensor(name: l.name + ".bias", layout: .vector16, dtype: .f32, dims: (l.outChannels, 1, 1, 1),
                                             byteLength: (l.outChannels + 15) / 16 * 16 * 4))
                b = tensors.count - 1
            }
            tensorIndex.append((w, b))
        }
        if tensors.count > VGGFile.maxTensors { throw ConvertError("\(tensors.count) tensors; the format allows \(VGGFile.maxTensors)") }

        // Strings and table geometry.
        var strings = StringTableBuilder()
        let nameRef = try strings.add(net.name, maxLength: VGGFile.maxModelNameLength, what: "model name")
        var layerRefs = [((UInt32, UInt32), (UInt32, UInt32))]()
        for l in net.layers {
            if l.name.isEmpty { throw ConvertError("a layer has an empty name") }
            layerRefs.append((try strings.add(l.name, maxLength: VGGFile.maxLayerNameLength, what: "layer name"),
                              try strings.add(l.alias, maxLength: VGGFile.maxLayerNameLength, what: "layer alias")))
        }
        let tensorRefs = try tensors.map { try strings.add($0.name, maxLength: VGGFile.maxTensorNameLength, what: "tensor name") }
        let labelRefs = try net.labels.map { try strings.add($0, maxLength: VGGFile.maxLabelLength, what: "label") }
        if strings.bytes.count > VGGFile.maxStringTableSize { throw ConvertError("string table of \(strings.bytes.count) bytes exceeds \(VGGFile.maxStringTableSize)") }

        let layerTable = VGGFile.headerSize
        let tensorTable = layerTable + net.layers.count * VGGFile.layerRecordSize
        let labelTable = tensorTable + tensors.count * VGGFile.tensorRecordSize
        let stringTable = labelTable + net.labels.count * VGGFile.strrefSize
        let metadataEnd = stringTable + strings.bytes.count
        var cursor = metadataEnd
        for i in tensors.indices {
            cursor = (cursor + VGGFile.tensorAlignment - 1) / VGGFile.tensorAlignment * VGGFile.tensorAlignment
            tensors[i].offset = cursor
            cursor += tensors[i].byteLength
        }
        let fileSize = cursor

        // Tensor data.
        let out = try AtomicOutput(path: path)
        try out.setSize(fileSize)
        let progress = Progress(label: "writing", total: tensors.reduce(0) { $0 + $1.byteLength }, enabled: showProgress)
        for (li, l) in net.layers.enumerated() where l.kind == .convolution {
            guard let provider = l.weights else { throw ConvertError("layer '\(l.name)' has no weights") }
            let (wi, bi) = tensorIndex[li]
            try provider { weights, bias in
                let expected = l.outChannels * l.inChannels * l.kernelH * l.kernelW
                if weights.count != expected {
                    throw ConvertError("layer '\(l.name)' weights: expected \(expected) values, found \(weights.count)")
                }
                let groupSize = tensors[wi].layout == .oGroup1024 ? VGGFile.outputGroup : VGGFile.channelBlock
                tensors[wi].crc = try writePacked(weights, layer: l, dtype: dtype, groupSize: groupSize, to: out,
                                                  at: tensors[wi].offset, progress: progress)
                if let bi {
                    guard let bias, bias.count == l.outChannels else {
                        throw ConvertError("layer '\(l.name)' bias: expected \(l.outChannels) values, found \(bias?.count ?? 0)")
                    }
                    tensors[bi].crc = try writeBias(bias, layer: l, to: out, at: tensors[bi].offset)
                    progress.advance(by: tensors[bi].byteLength)
                }
            }
        }
        progress.finish()

        // Header and tables.
        var meta = ByteTable(count: metadataEnd)
        for (i, b) in VGGFile.magic.enumerated() { meta.bytes[i] = b }
        meta.u32(HeaderField.version, formatVersion)
        meta.u32(HeaderField.headerSize, UInt32(VGGFile.headerSize))
        meta.u64(HeaderField.fileSize, UInt64(fileSize))
        meta.u32(HeaderField.layerCount, UInt32(net.layers.count))
        meta.u32(HeaderField.tensorCount, UInt32(tensors.count))
        meta.u64(HeaderField.layerTableOffset, UInt64(layerTable))
        meta.u64(HeaderField.tensorTableOffset, UInt64(tensorTable))
        meta.u64(HeaderField.labelTableOffset, UInt64(labelTable))
        meta.u64(HeaderField.stringTableOffset, UInt64(stringTable))
        meta.u64(HeaderField.stringTableSize, UInt64(strings.bytes.count))
        meta.strref(HeaderField.modelName, nameRef)
        meta.u32(HeaderField.inputChannels, 3)
        meta.u32(HeaderField.inputHeight, UInt32(net.inputHeight))
        meta.u32(HeaderField.inputWidth, UInt32(net.inputWidth))
        meta.u32(HeaderField.channelOrder, net.channelOrder.rawValue)
        for c in 0..<3 {
            meta.f32(HeaderField.mean + 4 * c, net.mean[c])
            meta.f32(HeaderField.scale + 4 * c, net.scale[c])
        }
        meta.u32(HeaderField.labelCount, UInt32(net.labels.count))
        meta.u32(HeaderField.sourceFormat, net.source.rawValue)
        for (i, l) in net.layers.enumerated() {
            let at = layerTable + i * VGGFile.layerRecordSize
            meta.u32(at + LayerField.kind, l.kind.rawValue)
            meta.u32(at + LayerField.flags, (l.relu ? LayerFlag.relu : 0) | (l.fromInnerProduct ? LayerFlag.fromInnerProduct : 0))
            meta.strref(at + LayerField.name, layerRefs[i].0)
            meta.strref(at + LayerField.alias, layerRefs[i].1)
            meta.u32(at + LayerField.inChannels, UInt32(l.inChannels))
            meta.u32(at + LayerField.outChannels, UInt32(l.outChannels))
            meta.u32(at + LayerField.kernelH, UInt32(l.kernelH))
            meta.u32(at + LayerField.kernelW, UInt32(l.kernelW))
            meta.u32(at + LayerField.strideH, UInt32(l.strideH))
            meta.u32(at + LayerField.strideW, UInt32(l.strideW))
            meta.u32(at + LayerField.padH, UInt32(l.padH))
            meta.u32(at + LayerField.padW, UInt32(l.padW))
            meta.u32(at + LayerField.rounding, l.kind == .maxPool || l.kind == .averagePool ? l.rounding.rawValue : 0)
            let (wi, bi) = tensorIndex[i]
            meta.u32(at + LayerField.weightTensor, wi >= 0 ? UInt32(wi) : VGGFile.noTensor)
            meta.u32(at + LayerField.biasTensor, bi.map(UInt32.init) ?? VGGFile.noTensor)
            if l.kind == .lrn {
                meta.u32(at + LayerField.lrnLocalSize, UInt32(l.lrnLocalSize))
                meta.f32(at + LayerField.lrnAlpha, l.lrnAlpha)
                meta.f32(at + LayerField.lrnBeta, l.lrnBeta)
                meta.f32(at + LayerField.lrnK, l.lrnK)
            }
        }
        for (i, t) in tensors.enumerated() {
            let at = tensorTable + i * VGGFile.tensorRecordSize
            meta.strref(at + TensorField.name, tensorRefs[i])
            meta.u32(at + TensorField.dtype, t.dtype.rawValue)
            meta.u32(at + TensorField.layout, t.layout.rawValue)
            meta.u32(at + TensorField.dims, UInt32(t.dims.0))
            meta.u32(at + TensorField.dims + 4, UInt32(t.dims.1))
            meta.u32(at + TensorField.dims + 8, UInt32(t.dims.2))
            meta.u32(at + TensorField.dims + 12, UInt32(t.dims.3))
            meta.u64(at + TensorField.offset, UInt64(t.offset))
            meta.u64(at + TensorField.byteLength, UInt64(t.byteLength))
            meta.u32(at + TensorField.crc32, t.crc)
        }
        for (i, r) in labelRefs.enumerated() { meta.strref(labelTable + i * VGGFile.strrefSize, r) }
        for (i, b) in strings.bytes.enumerated() { meta.bytes[stringTable + i] = b }
        let crc = meta.bytes.withUnsafeBytes { CRC32.checksum($0) }  // the CRC field is still zero
        meta.u32(VGGFile.metadataCRCOffset, crc)
        try meta.bytes.withUnsafeBytes { try out.write($0, at: 0) }
        try out.commit()
    }

    static func validate(_ net: CanonicalNetwork) throws {
        if net.layers.isEmpty { throw ConvertError("the network has no layers") }
        if net.inputHeight < 1 || net.inputWidth < 1 || net.inputHeight > Int(VGGFile.maxInputSide) || net.inputWidth > Int(VGGFile.maxInputSide) {
            throw ConvertError("input size \(net.inputHeight)×\(net.inputWidth) is out of range 1…\(VGGFile.maxInputSide)")
        }
        if net.mean.count != 3 || net.scale.count != 3 || !net.mean.allSatisfy(\.isFinite) || !net.scale.allSatisfy({ $0.isFinite && $0 != 0 }) {
            throw ConvertError("preprocessing needs 3 finite means and 3 finite non-zero scales, found \(net.mean) and \(net.scale)")
        }
        if !net.labels.isEmpty && net.labels.count != net.classCount {
            throw ConvertError("\(net.labels.count) labels given but the model has \(net.classCount) classes")
        }
        var names = Set<String>()
        for l in net.layers {
            for n in [l.name, l.alias] where !n.isEmpty {
                if !names.insert(n).inserted { throw ConvertError("layer name '\(n)' is used twice") }
            }
        }
    }

    /// Packs OIHW weights into groups of `groupSize` output channels, each group's channels
    /// innermost tap after tap (16: OBLOCK16; 1024: OGROUP1024, the last group as wide as what is
    /// left, padded to 16), converts, writes group after group; returns the tensor's CRC-32. A
    /// group is transposed in memory (an OGROUP1024 group of VGG16's fc6: 100 MB).
    static func writePacked(_ w: WeightSource, layer l: CanonicalLayer, dtype: DType, groupSize: Int, to out: AtomicOutput,
                            at offset: Int, progress: Progress) throws -> UInt32 {
        let O = l.outChannels, inner = l.inChannels * l.kernelH * l.kernelW, padded = (O + 15) / 16 * 16
        var rows = [Float](repeating: 0, count: inner * 16)
        var packed = [Float](), half = [UInt16]()
        var crc = CRC32()
        var at = offset
        for group in 0..<(padded + groupSize - 1) / groupSize {
            let first = group * groupSize, width = min(groupSize, padded - first)
            if packed.count != inner * width {
                packed = [Float](repeating: 0, count: inner * width)
            } else if first + width > O {
                packed.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }  // lanes past O stay zero
            }
            var o0 = first
            while o0 < min(O, first + width) {
                let real = min(16, O - o0)
                rows.withUnsafeMutableBufferPointer { w.copy(from: o0 * inner, count: real * inner, into: $0.baseAddress!) }
                for r in 0..<real {
                    let lane = o0 + r - first
                    for j in 0..<inner {
                        let v = rows[r * inner + j]
                        if !v.isFinite {
                            let (i, rest) = j.quotientAndRemainder(dividingBy: l.kernelH * l.kernelW)
                            throw ConvertError("layer '\(l.name)' weights: non-finite value \(v) at (out \(o0 + r), in \(i), y \(rest / l.kernelW), x \(rest % l.kernelW))")
                        }
                        packed[j * width + lane] = v
                    }
                }
                o0 += 16
            }
            switch dtype {
            case .f32:
                try packed.withUnsafeBytes { b in crc.update(b); try out.write(b, at: at) }
            case .f16, .bf16:
                if half.count != packed.count { half = [UInt16](repeating: 0, count: packed.count) }
                for i in 0..<packed.count {
                    if dtype == .f16 {
                        if abs(packed[i]) > 65504 {
                            throw ConvertError("layer '\(l.name)' weights: \(packed[i]) does not fit f16 (max 65504); use --dtype bf16 or f32")
                        }
                        half[i] = f16Bits(packed[i])
                    } else {
                        half[i] = bf16Bits(packed[i])
                    }
                }
                try half.withUnsafeBytes { b in crc.update(b); try out.write(b, at: at) }
            }
            at += inner * width * dtype.size
            progress.advance(by: inner * width * dtype.size)
        }
        return crc.value
    }

    static func writeBias(_ b: WeightSource, layer l: CanonicalLayer, to out: AtomicOutput, at offset: Int) throws -> UInt32 {
        var padded = [Float](repeating: 0, count: (b.count + 15) / 16 * 16)
        padded.withUnsafeMutableBufferPointer { b.copy(from: 0, count: b.count, into: $0.baseAddress!) }
        for i in 0..<b.count where !padded[i].isFinite {
            throw ConvertError("layer '\(l.name)' bias: non-finite value \(padded[i]) at \(i)")
        }
        return try padded.withUnsafeBytes { bytes in
            try out.write(bytes, at: offset)
            return CRC32.checksum(bytes)
        }
    }
}
