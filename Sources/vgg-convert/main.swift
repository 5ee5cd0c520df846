// vgg-convert: converts Caffe, Keras, PyTorch, safetensors and ONNX VGG weights to the .vgg format.
import ArgumentParser
import AtomicFile
import Glibc
import VGGConvert
import VGGFormat

struct VGGConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vgg-convert",
        abstract: "Convert VGG weights (Caffe .caffemodel, Keras / Caffe HDF5, PyTorch .pth, safetensors, ONNX) to a .vgg file.",
        discussion: """
        The input type is detected from the file's content. The output appears only when the \
        conversion succeeded (it is written to a temporary file, synced, then renamed).

        Examples:
          vgg-convert VGG_ILSVRC_16_layers.caffemodel --labels synset_words.txt
          vgg-convert VGG_ILSVRC_19_layers.caffemodel -o vgg19-bf16.vgg --dtype bf16
          vgg-convert VGG_CNN_M.caffemodel --input-size 224
          vgg-convert vgg16_weights_tf_dim_ordering_tf_kernels.h5
          vgg-convert vgg16_weights_th_dim_ordering_th_kernels.h5 --kernel-layout th
          vgg-convert vgg16_bn-6c64b313.pth     (torchvision; BatchNorm folded)
          vgg-convert model.safetensors         (torchvision or timm)
          vgg-convert vgg16.onnx                (torch.onnx export; a plain VGG chain)

        A .pth pickle is interpreted, never executed: globals other than \
        those torch.save writes for tensors are refused. Save \
        model.state_dict() (or a checkpoint dict), not the whole model.

        Exit status: 0 on success, 1 when the conversion failed (nothing is written), \
        64 on a usage error.
        """,
        version: toolVersionText
    )

    @Argument(help: "The weights file to convert.")
    var input: String

    @Option(name: .shortAndLong, help: "Output path (default: INPUT with its extension replaced by .vgg).")
    var output: String?

    @Option(help: "Weight storage type: f32, f16 or bf16.")
    var dtype: String = "f32"

    @Option(name: .customLong("input-size"), help: "Training input side (default: 224); sets the fc6 kernel size.")
    var inputSize: Int?

    @Option(help: "Class labels: 'imagenet' (the bundled ILSVRC-2012 list in Caffe's order), a file with one per line (synset_words.txt; LF or CRLF), or Keras's imagenet_class_index.json.")
    var labels: String?

    @Option(help: "Per-channel means, in the network's channel order (default for ILSVRC VGG: 103.939,116.779,123.68).")
    var mean: String?

    @Option(help: "Per-channel scale applied after subtracting the mean (default: 1,1,1).")
    var scale: String?

    @Option(name: .customLong("channel-order"), help: "Channel order the network expects: bgr (Caffe/Keras VGG) or rgb.")
    var channelOrder: String?

    @Option(name: .customLong("kernel-layout"), help: "Keras kernel orientation: tf or th (Theano); detected from the file when omitted.")
    var kernelLayout: String?

    @Option(name: .customLong("hdf5-timeout"), help: "Seconds one libhdf5 metadata read may take before giving up (0: no limit); libhdf5 can hang on malformed files.")
    var hdf5Timeout: UInt32 = 60

    @Option(name: .customLong("format-version"), help: "File format version: 2 (default; f32 fc weights grouped for skipping zero inputs) or 1 (OBLOCK16 throughout: what readers that know only version 1 open).")
    var formatVersion: UInt32 = 2

    @Option(help: "Model name stored in the file.")
    var name: String?

    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false

    func floats(_ s: String, _ option: String) throws -> [Float] {
        let parts = s.split(separator: ",").compactMap { Float(String($0).filter { $0 != " " }) }
        guard parts.count == 3, s.split(separator: ",").count == 3, parts.allSatisfy(\.isFinite) else {
            throw ValidationError("\(option) expects three comma-separated numbers, found '\(s)'")
        }
        return parts
    }

    func run() throws {
        var o = ConvertOptions()
        o.output = output
        switch dtype.lowercased() {
        case "f32", "float32": o.dtype = .f32
        case "f16", "float16": o.dtype = .f16
        case "bf16", "bfloat16": o.dtype = .bf16
        default: throw ValidationError("--dtype must be f32, f16 or bf16, found '\(dtype)'")
        }
        guard formatVersion == 1 || formatVersion == 2 else {
            throw ValidationError("--format-version must be 1 or 2, found \(formatVersion)")
        }
        o.formatVersion = formatVersion
        if let s = inputSize {
            guard s >= 1 && s <= 65536 else { throw ValidationError("--input-size must be in 1…65536, found \(s)") }
            o.inputSize = s
        }
        o.labelsPath = labels
        if let m = mean { o.mean = try floats(m, "--mean") }
        if let s = scale {
            let values = try floats(s, "--scale")
            if values.contains(0) { throw ValidationError("--scale values must be non-zero") }
            o.scale = values
        }
        if let c = channelOrder {
            switch c.lowercased() {
            case "bgr": o.channelOrder = .bgr
            case "rgb": o.channelOrder = .rgb
            default: throw ValidationError("--channel-order must be bgr or rgb, found '\(c)'")
            }
        }
        if let k = kernelLayout {
            guard let layout = KernelLayout(rawValue: k.lowercased()) else {
                throw ValidationError("--kernel-layout must be tf or th, found '\(k)'")
            }
            o.kernelLayout = layout
        }
        HDF5Importer.watchdogSeconds = hdf5Timeout
        o.name = name
        o.showProgress = !quiet && isatty(STDERR_FILENO) != 0
        do {
            let r = try Converter.convert(input: input, options: o)
            if !quiet {
                for note in r.network.notes { print("note: \(note)") }
                let params = r.network.layers.reduce(0) { $0 + $1.parameterCount }
                print("wrote \(r.output): \(r.network.layers.count) layers, \(params) parameters, \(o.dtype.name), \(r.network.classCount) classes")
            }
        } catch let e as ConvertError {
            fputs("vgg-convert: \(e.message)\n", stderr)
            throw ExitCode(1)
        } catch let e as AtomicOutputError {
            fputs("vgg-convert: \(e.message)\n", stderr)
            throw ExitCode(1)
        }
    }
}

// A file-size limit must give a clean error (EFBIG), not kill the process mid-write.
signal(SIGXFSZ, SIG_IGN)
VGGConvertCommand.main()
