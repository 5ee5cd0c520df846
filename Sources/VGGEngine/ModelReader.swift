// Validation of a .vgg file in one pass, before any tensor is touched (docs/FORMAT.md).
// Every offset, size and count is checked with overflow-safe arithmetic; each failure names
// the field, the expected and the found value.
import VGGFormat

struct ParsedModel {
    var name: String
    var namePointer: UnsafePointer<CChar>
    var layers: [Layer]
    var tensors: [Tensor]
    var inputChannels: Int, inputHeight: Int, inputWidth: Int
    var channelOrder: ChannelOrder
    var mean: [Float], scale: [Float]
    var labels: [String]
    var labelPointers: [UnsafePointer<CChar>]
    var layerNamePointers: [UnsafePointer<CChar>]
    var sourceFormat: SourceFormat
    var formatVersion: Int
}

struct ModelReader {
    let base: UnsafeRawPointer
    let size: Int

    init(mapping: FileMapping) throws {
        base = mapping.base
        size = mapping.count
        if size < VGGFile.headerSize {
            throw VGGError(.format, "file is \(size) bytes, shorter than the \(VGGFile.headerSize)-byte header")
        }
    }

    // Loads at offsets already proven to lie inside the file.
    func u32(_ at: Int) -> UInt32 { base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
    func u64(_ at: Int) -> UInt64 { base.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian }
    func f32(_ at: Int) -> Float { Float(bitPattern: u32(at)) }

    func fail(_ message: String) -> VGGError { VGGError(.format, message) }

    /// `a + b` as Int, or a format error naming `what`.
    func add(_ a: Int, _ b: Int, _ what: String) throws -> Int {
        let (s, o) = a.addingReportingOverflow(b)
        if o { throw fail("\(what): offset arithmetic overflows") }
        return s
    }

    func mul(_ a: Int, _ b: Int, _ what: String) throws -> Int {
        let (s, o) = a.multipliedReportingOverflow(by: b)
        if o { throw fail("\(what): size arithmetic overflows") }
        return s
    }

    func int(_ v: UInt64, _ what: String) throws -> Int {
        guard v <= UInt64(Int.max) else { throw fail("\(what): \(v) is too large") }
        return Int(v)
    }

    func checkZero(_ from: Int, _ to: Int, _ what: String) throws {
        var i = from
        while i < to {
            let b = base.load(fromByteOffset: i, as: UInt8.self)
            if b != 0 { throw fail("\(what): reserved byte at offset \(i) must be 0, found \(b)") }
            i += 1
        }
    }

    func read(verifyChecksums: Bool) throws -> ParsedModel {
        // Header.
        for (i, m) in VGGFile.magic.enumerated() where base.load(fromByteOffset: i, as: UInt8.self) != m {
            throw fail("not a .vgg file: magic bytes expected 89 56 47 47 0D 0A 1A 0A, found \(magicHex())")
        }
        let version = u32(HeaderField.version)
        if version < VGGFile.oldestVersion || version > VGGFile.version {
            throw VGGError(.format, "format_version: expected \(VGGFile.oldestVersion)…\(VGGFile.version), found \(version) (a newer libvgg may read it)")
        }
        let headerSize = u32(HeaderField.headerSize)
        if headerSize != UInt32(VGGFile.headerSize) {
            throw fail("header_size: expected \(VGGFile.headerSize), found \(headerSize)")
        }
        let fileSize = u64(HeaderField.fileSize)
        if fileSize != UInt64(size) {
            throw fail("file_size: header says \(fileSize) bytes, the file has \(size) (truncated or padded?)")
        }
        let layerCount = Int(u32(HeaderField.layerCount))
        if layerCount < 1 || layerCount > VGGFile.maxLayers {
            throw fail("layer_count: expected 1…\(VGGFile.maxLayers), found \(layerCount)")
        }
        let tensorCount = Int(u32(HeaderField.tensorCount))
        if tensorCount > VGGFile.maxTensors {
            throw fail("tensor_count: expected 0…\(VGGFile.maxTensors), found \(tensorCount)")
        }
        let labelCount = Int(u32(HeaderField.labelCount))
        if labelCount > Int(VGGFile.maxChannels) {
            throw fail("label_count: expected 0…\(VGGFile.maxChannels), found \(labelCount)")
        }
        let layerTable = try int(u64(HeaderField.layerTableOffset), "layer_table_offset")
        if layerTable != VGGFile.headerSize {
            throw fail("layer_table_offset: expected \(VGGFile.headerSize), found \(layerTable)")
        }
        let tensorTable = try int(u64(HeaderField.tensorTableOffset), "tensor_table_offset")
        let expectedTensorTable = try add(layerTable, try mul(layerCount, VGGFile.layerRecordSize, "layer table"), "layer table")
        if tensorTable != expectedTensorTable {
            throw fail("tensor_table_offset: expected \(expectedTensorTable), found \(tensorTable)")
        }
        let labelTable = try int(u64(HeaderField.labelTableOffset), "label_table_offset")
        let expectedLabelTable = try add(tensorTable, try mul(tensorCount, VGGFile.tensorRecordSize, "tensor table"), "tensor table")
        if labelTable != expectedLabelTable {
            throw fail("label_table_offset: expected \(expectedLabelTable), found \(labelTable)")
        }
        let stringTable = try int(u64(HeaderField.stringTableOffset), "string_table_offset")
        let expectedStringTable = try add(labelTable, try mul(labelCount, VGGFile.strrefSize, "label table"), "label table")
        if stringTable != expectedStringTable {
            throw fail("string_table_offset: expected \(expectedStringTable), found \(stringTable)")
        }
        let stringSize = try int(u64(HeaderField.stringTableSize), "string_table_size")
        if stringSize < 1 || stringSize > VGGFile.maxStringTableSize {
            throw fail("string_table_size: expected 1…\(VGGFile.maxStringTableSize), found \(stringSize)")
        }
        let metadataEnd = try add(stringTable, stringSize, "string table")
        if metadataEnd > size {
            throw fail("string table ends at \(metadataEnd), past the end of the \(size)-byte file")
        }
        try checkZero(HeaderField.reservedStart, HeaderField.reservedEnd, "header")

        // Metadata checksum, with the checksum field itself taken as zero.
        let storedCRC = u32(VGGFile.metadataCRCOffset)
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(start: base, count: VGGFile.metadataCRCOffset))
        var zero: UInt32 = 0
        withUnsafeBytes(of: &zero) { crc.update($0) }
        crc.update(UnsafeRawBufferPointer(start: base + VGGFile.headerSize, count: metadataEnd - VGGFile.headerSize))
        if crc.value != storedCRC {
            throw VGGError(.checksum, "metadata_crc32: expected 0x\(hex(storedCRC)) (stored), computed 0x\(hex(crc.value)); the header or tables are corrupt")
        }

        let strings = StringTable(base: base + stringTable, size: stringSize)
        if base.load(fromByteOffset: stringTable, as: UInt8.self) != 0 {
            throw fail("string table: first byte must be NUL (the empty string)")
        }
        let (name, namePointer) = try strings.string(u32(HeaderField.modelName), u32(HeaderField.modelName + 4),
                                                     maxLength: VGGFile.maxModelNameLength, what: "model_name")
        let inputChannels = Int(u32(HeaderField.inputChannels))
        if inputChannels != 3 { throw fail("input_channels: expected 3, found \(inputChannels)") }
        let inputHeight = u32(HeaderField.inputHeight), inputWidth = u32(HeaderField.inputWidth)
        for (v, what) in [(inputHeight, "input_height"), (inputWidth, "input_width")] where v < 1 || v > VGGFile.maxInputSide {
            throw fail("\(what): expected 1…\(VGGFile.maxInputSide), found \(v)")
        }
        guard let order = ChannelOrder(rawValue: u32(HeaderField.channelOrder)) else {
            throw fail("channel_order: expected 0 (BGR) or 1 (RGB), found \(u32(HeaderField.channelOrder))")
        }
        var mean = [Float](), scale = [Float]()
        for c in 0..<3 {
            let m = f32(HeaderField.mean + 4 * c), s = f32(HeaderField.scale + 4 * c)
            if !m.isFinite { throw fail("mean[\(c)]: expected a finite number, found \(m)") }
            if !s.isFinite || s == 0 { throw fail("scale[\(c)]: expected a finite non-zero number, found \(s)") }
            mean.append(m)
            scale.append(s)
        }
        guard let source = SourceFormat(rawValue: u32(HeaderField.sourceFormat)) else {
            throw fail("source_format: expected 0…5, found \(u32(HeaderField.sourceFormat))")
        }

        // Tensors: aligned, inside the file, after the metadata, in increasing offset order.
        var tensors = [Tensor]()
        tensors.reserveCapacity(tensorCount)
        var previousEnd = metadataEnd
        for i in 0..<tensorCount {
            let at = tensorTable + i * VGGFile.tensorRecordSize
            let what = "tensor \(i)"
            let (tname, _) = try strings.string(u32(at + TensorField.name), u32(at + TensorField.name + 4),
                                                maxLength: VGGFile.maxTensorNameLength, what: "\(what) name")
            guard let dtype = DType(rawValue: u32(at + TensorField.dtype)) else {
                throw fail("tensor '\(tname)' dtype: expected 1 (f32), 2 (f16) or 3 (bf16), found \(u32(at + TensorField.dtype))")
            }
            guard let layout = TensorLayout(rawValue: u32(at + TensorField.layout)) else {
                throw fail("tensor '\(tname)' layout: expected 1 (OBLOCK16), 2 (VECTOR16) or 3 (OGROUP1024), found \(u32(at + TensorField.layout))")
            }
            if layout == .oGroup1024 && (version < 2 || dtype != .f32) {
                throw fail("tensor '\(tname)' layout: OGROUP1024 holds f32 weights in format version 2 or later, found \(dtype.name) in version \(version)")
            }
            let dims = (u32(at + TensorField.dims), u32(at + TensorField.dims + 4),
                        u32(at + TensorField.dims + 8), u32(at + TensorField.dims + 12))
            for d in [dims.0, dims.1, dims.2, dims.3] where d < 1 || d > VGGFile.maxChannels {
                throw fail("tensor '\(tname)' dims: expected each in 1…\(VGGFile.maxChannels), found \(dims)")
            }
            if layout == .vector16 && (dims.1 != 1 || dims.2 != 1 || dims.3 != 1) {
                throw fail("tensor '\(tname)' dims: a VECTOR16 tensor has dims (N,1,1,1), found \(dims)")
            }
            if layout == .vector16 && dtype != .f32 {
                throw fail("tensor '\(tname)' dtype: biases are f32 in format version 1, found \(dtype.name)")
            }
            guard let elements = storedElementCount(layout: layout, dims: dims) else {
                throw fail("tensor '\(tname)' dims \(dims): element count overflows")
            }
            let expectedBytes = try mul(elements, dtype.size, "tensor '\(tname)'")
            let offset = try int(u64(at + TensorField.offset), "tensor '\(tname)' offset")
            let length = try int(u64(at + TensorField.byteLength), "tensor '\(tname)' byte_length")
            if length != expectedBytes {
                throw fail("tensor '\(tname)' byte_length: expected \(expectedBytes) for dims \(dims) as \(dtype.name), found \(length)")
            }
            if offset % VGGFile.tensorAlignment != 0 {
                throw fail("tensor '\(tname)' offset: expected a multiple of \(VGGFile.tensorAlignment), found \(offset)")
            }
            if offset < previousEnd {
                throw fail("tensor '\(tname)' offset: expected ≥ \(previousEnd) (after the previous section), found \(offset)")
            }
            let end = try add(offset, length, "tensor '\(tname)'")
            if end > size {
                throw fail("tensor '\(tname)' ends at byte \(end), past the end of the \(size)-byte file")
            }
            try checkZero(at + TensorField.reservedStart, at + VGGFile.tensorRecordSize, "tensor '\(tname)'")
            previousEnd = end
            tensors.append(Tensor(name: tname, dtype: dtype, layout: layout, dims: dims, data: base + offset,
                                  byteLength: length, offset: offset, crc32: u32(at + TensorField.crc32)))
        }

        // Layers: a chain whose channel counts and tensor shapes agree.
        var layers = [Layer]()
        var namePointers = [UnsafePointer<CChar>]()
        var seenNames = Set<String>()
        var usedTensors = Set<Int>()
        var channels = inputChannels
        for i in 0..<layerCount {
            let at = layerTable + i * VGGFile.layerRecordSize
            let (lname, lptr) = try strings.string(u32(at + LayerField.name), u32(at + LayerField.name + 4),
                                                   maxLength: VGGFile.maxLayerNameLength, what: "layer \(i) name")
            if lname.isEmpty { throw fail("layer \(i) name: expected 1…\(VGGFile.maxLayerNameLength) bytes, found an empty name") }
            let (alias, _) = try strings.string(u32(at + LayerField.alias), u32(at + LayerField.alias + 4),
                                                maxLength: VGGFile.maxLayerNameLength, what: "layer '\(lname)' alias")
            for n in [lname, alias] where !n.isEmpty {
                if seenNames.contains(n) { throw fail("layer \(i): name '\(n)' is used twice") }
                seenNames.insert(n)
            }
            guard let kind = LayerKind(rawValue: u32(at + LayerField.kind)) else {
                throw fail("layer '\(lname)' kind: expected 1…4, found \(u32(at + LayerField.kind))")
            }
            let flags = u32(at + LayerField.flags)
            if flags & ~LayerFlag.all != 0 {
                throw fail("layer '\(lname)' flags: unknown bits set in 0x\(hex(flags))")
            }
            if kind != .convolution && flags != 0 {
                throw fail("layer '\(lname)' flags: only convolutions carry flags, found 0x\(hex(flags))")
            }
            let inC = Int(u32(at + LayerField.inChannels)), outC = Int(u32(at + LayerField.outChannels))
            if inC != channels {
                throw fail("layer '\(lname)' in_channels: expected \(channels) (the previous layer's output), found \(inC)")
            }
            if outC < 1 || outC > Int(VGGFile.maxChannels) {
                throw fail("layer '\(lname)' out_channels: expected 1…\(VGGFile.maxChannels), found \(outC)")
            }
            if kind != .convolution && outC != inC {
                throw fail("layer '\(lname)' out_channels: a \(kind) layer keeps its \(inC) channels, found \(outC)")
            }
            var geometry = [Int]()
            for (off, what, lo, hi) in [(LayerField.kernelH, "kernel_h", 1, Int(VGGFile.maxKernel)),
                                        (LayerField.kernelW, "kernel_w", 1, Int(VGGFile.maxKernel)),
                                        (LayerField.strideH, "stride_h", 1, Int(VGGFile.maxStride)),
                                        (LayerField.strideW, "stride_w", 1, Int(VGGFile.maxStride))] {
                let v = Int(u32(at + off))
                if v < lo || v > hi { throw fail("layer '\(lname)' \(what): expected \(lo)…\(hi), found \(v)") }
                geometry.append(v)
            }
            let padH = Int(u32(at + LayerField.padH)), padW = Int(u32(at + LayerField.padW))
            if padH >= geometry[0] || padW >= geometry[1] {
                throw fail("layer '\(lname)' pad: expected pad < kernel (\(geometry[0])×\(geometry[1])), found \(padH)×\(padW)")
            }
            guard let rounding = PoolRounding(rawValue: u32(at + LayerField.rounding)) else {
                throw fail("layer '\(lname)' rounding: expected 0 (ceil) or 1 (floor), found \(u32(at + LayerField.rounding))")
            }
            let weightIndex = u32(at + LayerField.weightTensor), biasIndex = u32(at + LayerField.biasTensor)
            var weight: Tensor? = nil, bias: Tensor? = nil
            let lrnSize = Int(u32(at + LayerField.lrnLocalSize))
            let alpha = f32(at + LayerField.lrnAlpha), beta = f32(at + LayerField.lrnBeta), k = f32(at + LayerField.lrnK)
            switch kind {
            case .convolution:
                guard weightIndex != VGGFile.noTensor, Int(weightIndex) < tensorCount else {
                    throw fail("layer '\(lname)' weight_tensor: expected a tensor index below \(tensorCount), found \(weightIndex)")
                }
                let w = tensors[Int(weightIndex)]
                let expected = (UInt32(outC), UInt32(inC), UInt32(geometry[0]), UInt32(geometry[1]))
                if w.layout == .vector16 || w.dims != expected {
                    throw fail("layer '\(lname)' weight '\(w.name)': expected OBLOCK16 or OGROUP1024 dims \(expected), found layout \(w.layout.rawValue) dims \(w.dims)")
                }
                if usedTensors.contains(Int(weightIndex)) { throw fail("layer '\(lname)': tensor \(weightIndex) is used twice") }
                usedTensors.insert(Int(weightIndex))
                weight = w
                if biasIndex != VGGFile.noTensor {
                    guard Int(biasIndex) < tensorCount else {
                        throw fail("layer '\(lname)' bias_tensor: expected a tensor index below \(tensorCount) or 0xFFFFFFFF, found \(biasIndex)")
                    }
                    let b = tensors[Int(biasIndex)]
                    if b.layout != .vector16 || Int(b.dims.0) != outC {
                        throw fail("layer '\(lname)' bias '\(b.name)': expected VECTOR16 of \(outC), found layout \(b.layout.rawValue) dims \(b.dims)")
                    }
                    if usedTensors.contains(Int(biasIndex)) { throw fail("layer '\(lname)': tensor \(biasIndex) is used twice") }
                    usedTensors.insert(Int(biasIndex))
                    bias = b
                }
                if rounding != .ceil || lrnSize != 0 || alpha != 0 || beta != 0 || k != 0 {
                    throw fail("layer '\(lname)': pooling/LRN fields must be 0 on a convolution")
                }
            case .maxPool, .averagePool, .lrn:
                if weightIndex != VGGFile.noTensor || biasIndex != VGGFile.noTensor {
                    throw fail("layer '\(lname)': a \(kind) layer has no tensors, found weight \(weightIndex), bias \(biasIndex)")
                }
                if kind == .lrn {
                    if lrnSize < 1 || lrnSize > 255 || lrnSize % 2 == 0 {
                        throw fail("layer '\(lname)' lrn_local_size: expected an odd number in 1…255, found \(lrnSize)")
                    }
                    if !alpha.isFinite || !beta.isFinite || !k.isFinite || k <= 0 {
                        throw fail("layer '\(lname)' LRN parameters: expected finite alpha, beta and k > 0, found \(alpha), \(beta), \(k)")
                    }
                    if geometry != [1, 1, 1, 1] || padH != 0 || padW != 0 {
                        throw fail("layer '\(lname)': LRN kernel/stride must be 1 and pad 0")
                    }
                } else if lrnSize != 0 || alpha != 0 || beta != 0 || k != 0 {
                    throw fail("layer '\(lname)': LRN fields must be 0 on a pooling layer")
                }
            }
            try checkZero(at + LayerField.reservedStart, at + VGGFile.layerRecordSize, "layer '\(lname)'")
            layers.append(Layer(kind: kind, relu: flags & LayerFlag.relu != 0,
                                fromInnerProduct: flags & LayerFlag.fromInnerProduct != 0,
                                name: lname, alias: alias, inChannels: inC, outChannels: outC,
                                kernelH: geometry[0], kernelW: geometry[1], strideH: geometry[2], strideW: geometry[3],
                                padH: padH, padW: padW, rounding: rounding, weight: weight, bias: bias,
                                lrnLocalSize: lrnSize, lrnAlpha: alpha, lrnBeta: beta, lrnK: k))
            namePointers.append(lptr)
            channels = outC
        }
        // OGROUP1024 weights only where the engine reads them: the fc layers (firstFCLayer).
        let firstFC = firstFCLayer(layers.map(\.kind)) ?? layers.count
        for (i, l) in layers.enumerated() where i < firstFC && l.weight?.layout == .oGroup1024 {
            throw fail("layer '\(l.name)' weight: OGROUP1024 is for the fc layers past the last pooling, found it on layer \(i) (fc layers start at \(firstFC))")
        }
        if usedTensors.count != tensorCount {
            throw fail("tensor table: \(tensorCount) tensors but only \(usedTensors.count) are used by layers")
        }

        // Labels.
        var labels = [String](), labelPointers = [UnsafePointer<CChar>]()
        if labelCount > 0 {
            let classes = layers.last.map { $0.kind == .convolution && $0.fromInnerProduct ? $0.outChannels : 0 } ?? 0
            if labelCount != classes {
                throw fail("label_count: expected 0 or \(classes) (the classes of the last layer), found \(labelCount)")
            }
            labels.reserveCapacity(labelCount)
            for i in 0..<labelCount {
                let at = labelTable + i * VGGFile.strrefSize
                let (l, p) = try strings.string(u32(at), u32(at + 4), maxLength: VGGFile.maxLabelLength, what: "label \(i)")
                labels.append(l)
                labelPointers.append(p)
            }
        }

        let tensorsOut = tensors
        if verifyChecksums { try verifyTensorChecksums(tensorsOut) }
        return ParsedModel(name: name, namePointer: namePointer, layers: layers, tensors: tensorsOut,
                           inputChannels: inputChannels, inputHeight: Int(inputHeight), inputWidth: Int(inputWidth),
                           channelOrder: order, mean: mean, scale: scale, labels: labels, labelPointers: labelPointers,
                           layerNamePointers: namePointers, sourceFormat: source, formatVersion: Int(version))
    }

    func magicHex() -> String {
        (0..<8).map { i -> String in
            let b = base.load(fromByteOffset: i, as: UInt8.self)
            return (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }.joined(separator: " ")
    }
}

/// The string table: strrefs resolved with bounds, NUL and UTF-8 checks.
struct StringTable {
    let base: UnsafeRawPointer
    let size: Int

    func string(_ offset: UInt32, _ length: UInt32, maxLength: Int, what: String) throws -> (String, UnsafePointer<CChar>) {
        let off = Int(offset), len = Int(length)
        if len > maxLength {
            throw VGGError(.format, "\(what): expected at most \(maxLength) bytes, found \(len)")
        }
        // off + len + 1 cannot overflow: both are below 2^32.
        if off + len + 1 > size {
            throw VGGError(.format, "\(what): string at \(off)+\(len) runs past the \(size)-byte string table")
        }
        let bytes = UnsafeRawBufferPointer(start: base + off, count: len)
        if base.load(fromByteOffset: off + len, as: UInt8.self) != 0 {
            throw VGGError(.format, "\(what): string at \(off)+\(len) is not NUL-terminated")
        }
        if bytes.contains(0) {
            throw VGGError(.format, "\(what): string at \(off)+\(len) contains a NUL byte")
        }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw VGGError(.format, "\(what): string at \(off)+\(len) is not valid UTF-8")
        }
        return (s, (base + off).assumingMemoryBound(to: CChar.self))
    }
}
