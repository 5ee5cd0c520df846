// The conversion job: detect the input type from its bytes, import, apply the user's
// preprocessing/labels overrides, write the .vgg file atomically.
import Glibc
import ClassLabels
import VGGFormat

public enum InputKind: Equatable {
    case caffemodel, hdf5, vgg, torch, torchLegacy, safetensors, onnx, text, unknown
}

public struct ConvertOptions {
    public var output: String?
    public var dtype: DType = .f32
    /// 2: f32 fc weights in OGROUP1024; 1: OBLOCK16 throughout (older readers).
    public var formatVersion: UInt32 = VGGFile.version
    public var inputSize: Int?
    public var labelsPath: String?
    /// In the network's channel order.
    public var mean: [Float]?
    public var scale: [Float]?
    public var channelOrder: ChannelOrder?
    public var name: String?
    /// Keras kernel orientation override (tf or th); detected when nil.
    public var kernelLayout: KernelLayout?
    public var showProgress = false
    public init() {}
}

public struct ConvertResult {
    public var output: String
    public var network: CanonicalNetwork
}

public enum Converter {
    /// Reads the first bytes to tell the file type (extensions lie).
    public static func detect(path: String) throws -> InputKind {
        let (fd, _) = try openConverterInput(path)
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 16)
        let n = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, 16) }
        if n <= 0 { throw ConvertError("'\(path)' is empty") }
        let bytes = Array(head[0..<min(n, 8)]), all = Array(head[0..<n])
        if bytes == VGGFile.magic { return .vgg }
        if bytes == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A] { return .hdf5 }
        if all.withUnsafeBytes({ ZipArchive.looksLikeZip($0) }) { return .torch }
        if all.withUnsafeBytes({ SafetensorsImporter.looksLikeSafetensors($0) }) { return .safetensors }
        if all.withUnsafeBytes({ ONNXImporter.looksLikeONNX($0) }) { return .onnx }
        if all.withUnsafeBytes({ TorchLegacyImporter.looksLikePickle($0) }) { return .torchLegacy }
        if bytes.withUnsafeBytes({ CaffeImporter.looksLikeCaffemodel($0) }) { return .caffemodel }
        if all.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) { return .text }
        return .unknown
    }

    public static func defaultOutput(for input: String) -> String {
        let slash = input.lastIndex(of: "/").map { input.index(after: $0) } ?? input.startIndex
        if let dot = input[slash...].lastIndex(of: "."), dot > slash {
            return String(input[..<dot]) + ".vgg"
        }
        return input + ".vgg"
    }

    /// Where a conversion writes: `-o` as given, `-o DIR/` or an existing directory gets the
    /// input's name with `.vgg`, no `-o` writes beside the input. Refused before any work when
    /// the directory is missing or unwritable, or when the output is the input itself (the same
    /// file through a symlink or a hard link too): the rename would destroy the source weights.
    public static func outputPath(input: String, requested: String?) throws -> String {
        var output = requested ?? defaultOutput(for: input)
        var st = stat()
        if output.hasSuffix("/") || (stat(output, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR) {
            let name = defaultOutput(for: input).split(separator: "/").last.map(String.init) ?? "model.vgg"
            output = (output.hasSuffix("/") ? output : output + "/") + name
        }
        let directory = output.lastIndex(of: "/").map { output[..<$0].isEmpty ? "/" : String(output[..<$0]) } ?? "."
        if stat(directory, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
            throw ConvertError("cannot write '\(output)': the directory '\(directory)' does not exist")
        }
        if access(directory, W_OK) != 0 {
            throw ConvertError("cannot write '\(output)': the directory '\(directory)' is not writable (\(String(cString: strerror(errno))))")
        }
        var source = stat(), target = stat()
        if stat(input, &source) == 0, stat(output, &target) == 0, source.st_dev == target.st_dev, source.st_ino == target.st_ino {
            throw ConvertError("the output '\(output)' is the input file itself; choose another -o (the conversion would replace the source weights)")
        }
        return output
    }

    public static func convert(input: String, options: ConvertOptions) throws -> ConvertResult {
        let output = try outputPath(input: input, requested: options.output)
        var net: CanonicalNetwork
        switch try detect(path: input) {
        case .caffemodel:
            net = try CaffeImporter.importFile(path: input, options: CaffeImportOptions(inputSize: options.inputSize))
        case .hdf5:
            net = try HDF5Importer.importFile(path: input, options: HDF5ImportOptions(inputSize: options.inputSize, kernelLayout: options.kernelLayout))
        case .torch:
            net = try TorchImporter.importFile(path: input, inputSize: options.inputSize)
        case .safetensors:
            net = try SafetensorsImporter.importFile(path: input, inputSize: options.inputSize)
        case .onnx:
            net = try ONNXImporter.importFile(path: input, inputSize: options.inputSize)
        case .torchLegacy:
            net = try TorchLegacyImporter.importFile(path: input, inputSize: options.inputSize)
        case .vgg:
            throw ConvertError("'\(input)' is already a .vgg file")
        case .text:
            throw ConvertError("'\(input)' is a text file (a .prototxt network description?); pass the binary .caffemodel (or .h5, .pth, .safetensors, .onnx) that holds the weights")
        case .unknown:
            throw ConvertError("'\(input)' is not a caffemodel, HDF5, PyTorch (.pth), safetensors or ONNX file (unrecognised first bytes)")
        }
        if let order = options.channelOrder { net.channelOrder = order }
        if let mean = options.mean {
            guard mean.count == 3 else { throw ConvertError("--mean needs 3 values, found \(mean.count)") }
            net.mean = mean
        }
        if let scale = options.scale {
            guard scale.count == 3 else { throw ConvertError("--scale needs 3 values, found \(scale.count)") }
            net.scale = scale
        }
        if let name = options.name { net.name = name }
        if let labelsPath = options.labelsPath {
            do {
                net.labels = try LabelsFile.read(path: labelsPath)
            } catch let e as LabelsError {
                throw ConvertError(e.message)
            }
            if net.classCount == 0 { throw ConvertError("--labels given but the model has no classifier layer") }
            if net.labels.count != net.classCount {
                throw ConvertError("'\(labelsPath)' has \(net.labels.count) labels, the model has \(net.classCount) classes")
            }
        }
        try VGGWriter.write(net, to: output, dtype: options.dtype, formatVersion: options.formatVersion,
                            showProgress: options.showProgress)
        return ConvertResult(output: output, network: net)
    }
}

/// `openRegularFile` with the converter's error type.
func openConverterInput(_ path: String) throws -> (descriptor: Int32, size: Int) {
    do {
        return try openRegularFile(path)
    } catch let e as RegularFileError {
        throw ConvertError(e.message)
    }
}
