// Reads VGG weights from HDF5 files: Keras 1/2 and legacy Keras 3 weights files (root
// `layer_names`), full-model files (`model_weights` + `model_config`), Keras 3 `.weights.h5`
// (`layers/<class>/vars/<i>`), and Caffe HDF5 snapshots (`/data/<layer>/<i>`). Facts and
// sources: docs/SOURCE_FORMATS.md (Keras HDF5, Caffe HDF5). Weights are matched by order and shape, not by name.
import CHDF5
import Foundation
import VGGFormat

/// How Keras stored the convolution kernels.
public enum KernelLayout: String {
    /// TensorFlow/CNTK: (kh, kw, in, out), cross-correlation; fc1 rows in (h, w, c) order.
    case tf
    /// Theano: (out, in, kh, kw), rotated 180° (true convolution); fc1 rows in (c, h, w) order.
    case th
}

public struct HDF5ImportOptions {
    public var inputSize: Int?
    public var kernelLayout: KernelLayout?
    public init(inputSize: Int? = nil, kernelLayout: KernelLayout? = nil) {
        self.inputSize = inputSize
        self.kernelLayout = kernelLayout
    }
}

/// One layer as the file describes it, before shapes are checked.
struct H5Entry {
    enum Kind { case conv, dense, maxPool, averagePool }
    var kind: Kind
    var name: String
    /// Dataset paths from the file root: kernel, then bias if any.
    var weights: [String] = []
    // From model_config when present.
    var padding: String?
    var strides: (Int, Int)?
    var poolSize: (Int, Int)?
    var activation: String?
}

public enum HDF5Importer {
    /// Seconds one libhdf5 metadata read may take before the converter gives up (0: no
    /// limit); libFuzzer sets 0 and applies its own per-input timeout.
    public static var watchdogSeconds: UInt32 {
        get { HDF5File.watchdogSeconds }
        set { HDF5File.watchdogSeconds = newValue }
    }

    public static func importFile(path: String, options: HDF5ImportOptions = HDF5ImportOptions()) throws -> CanonicalNetwork {
        // libhdf5 can crash on malformed files: turn that into a clean exit (off under libFuzzer).
        if watchdogSeconds > 0 { vggh5_crash_guard(1) }
        let f = try HDF5File(path: path)
        var net = CanonicalNetwork(name: "")
        let entries: [H5Entry]
        var layout = KernelLayout.tf
        if f.isGroup("data"), try f.splitStrings("/", "layer_names") == nil {
            entries = try caffeEntries(f)
            net.source = .caffeHDF5
            net.name = "caffe_hdf5"
        } else if let names = try f.splitStrings("/", "layer_names") {
            entries = try kerasEntries(f, root: "", layerNames: names, config: try modelConfig(f))
            net.source = .kerasHDF5
            layout = try kernelLayout(f, entries: entries, root: "/", forced: options.kernelLayout, notes: &net.notes)
        } else if f.isGroup("model_weights"), let names = try f.splitStrings("model_weights", "layer_names") {
            entries = try kerasEntries(f, root: "model_weights/", layerNames: names, config: try modelConfig(f))
            net.source = .kerasHDF5
            layout = try kernelLayout(f, entries: entries, root: "model_weights", forced: options.kernelLayout, notes: &net.notes)
        } else if f.isGroup("layers") {
            entries = try keras3Entries(f, notes: &net.notes)
            net.source = .keras3
        } else if try f.strings("/", "nb_layers") != nil {
            throw ConvertError("'\(path)' is a Keras 0.x weights file (nb_layers/layer_k/param_p); load it in Keras 1 or 2 and save it again")
        } else {
            throw ConvertError("'\(path)' is an HDF5 file without a known weights layout (expected a layer_names attribute, a model_weights, layers or data group)")
        }
        if net.name.isEmpty {
            let base = path.split(separator: "/").last.map(String.init) ?? path
            net.name = base.split(separator: ".").first.map(String.init) ?? base
        }
        if let s = options.inputSize { net.inputHeight = s; net.inputWidth = s }
        if net.source == .caffeHDF5 {
            try build(f, entries: entries, caffe: true, layout: .tf, into: &net)
        } else {
            try build(f, entries: entries, caffe: false, layout: layout, into: &net)
        }
        return net
    }

    // MARK: - Layouts

    /// Keras 1/2 and legacy Keras 3: `layer_names` in model order, per-layer `weight_names`.
    static func kerasEntries(_ f: HDF5File, root: String, layerNames: [String], config: [String: [String: Any]]) throws -> [H5Entry] {
        var out = [H5Entry]()
        for name in layerNames {
            let group = root + name
            guard f.isGroup(group) else { throw ConvertError("'\(f.path)': layer '\(name)' is listed in layer_names but has no group") }
            let weightNames = try f.splitStrings(group, "weight_names") ?? []
            let cls = config[name]?["class_name"] as? String
            let cfg = config[name]?["config"] as? [String: Any]
            var e: H5Entry
            if !weightNames.isEmpty {
                let paths = weightNames.map { group + "/" + $0 }
                for p in paths where !f.isDataset(p) {
                    throw ConvertError("'\(f.path)': layer '\(name)' lists weight '\(p.dropFirst(group.count + 1))' but the dataset is missing")
                }
                let rank = try f.shape(paths[0]).count
                switch (rank, cls) {
                case (4, nil), (4, "Conv2D"), (4, "Convolution2D"): e = H5Entry(kind: .conv, name: name)
                case (2, nil), (2, "Dense"): e = H5Entry(kind: .dense, name: name)
                default:
                    throw ConvertError("layer '\(name)'\(cls.map { " (\($0))" } ?? "") has a rank-\(rank) weight; only Conv2D and Dense layers carry weights in VGG")
                }
                if paths.count > 2 { throw ConvertError("layer '\(name)' has \(paths.count) weights; expected a kernel and a bias") }
                e.weights = paths
            } else {
                let lower = (cls ?? name).lowercased()
                if lower.contains("pool") {
                    e = H5Entry(kind: lower.contains("average") || lower.contains("avg") ? .averagePool : .maxPool, name: name)
                    if lower.contains("global") { throw ConvertError("layer '\(name)': global pooling is not supported") }
                } else {
                    continue  // input, flatten, dropout, activation: nothing to compute at inference
                }
            }
            if let cfg {
                e.padding = cfg["padding"] as? String ?? cfg["border_mode"] as? String
                e.activation = cfg["activation"] as? String
                if let s = cfg["strides"] as? [Int], s.count == 2 { e.strides = (s[0], s[1]) }
                if let s = cfg["subsample"] as? [Int], s.count == 2 { e.strides = (s[0], s[1]) }
                if let p = cfg["pool_size"] as? [Int], p.count == 2 { e.poolSize = (p[0], p[1]) }
            }
            out.append(e)
        }
        return out
    }

    /// The model_config JSON attribute (full-model files): layer name → its config entry.
    static func modelConfig(_ f: HDF5File) throws -> [String: [String: Any]] {
        guard let text = try f.strings("/", "model_config")?.first, let data = text.data(using: .utf8) else { return [:] }
        guard let json = try? JSONSerialization.jsonObject(with: data) else {
            throw ConvertError("'\(f.path)': the model_config attribute is not valid JSON")
        }
        var layers: [Any] = []
        if let top = json as? [String: Any] {
            if let c = top["config"] as? [String: Any], let l = c["layers"] as? [Any] { layers = l }
            else if let l = top["config"] as? [Any] { layers = l }  // Keras 2 Sequential
        }
        var byName = [String: [String: Any]]()
        for case let l as [String: Any] in layers {
            if let c = l["config"] as? [String: Any], let n = c["name"] as? String { byName[n] = l }
        }
        return byName
    }

    /// Keras 3 `.weights.h5`: `layers/<snake_case class>[_<n>]/vars/<i>`, named by class, not
    /// by layer; the `vars` group's `name` attribute (Keras ≥ 3.6) gives the layer name.
    static func keras3Entries(_ f: HDF5File, notes: inout [String]) throws -> [H5Entry] {
        func suffix(_ g: String, _ prefix: String) -> Int? {
            if g == prefix { return 0 }
            guard g.hasPrefix(prefix + "_"), let n = Int(g.dropFirst(prefix.count + 1)) else { return nil }
            return n
        }
        var convs = [(Int, H5Entry)](), denses = [(Int, H5Entry)](), pools = [(Int, H5Entry)]()
        for g in try f.children("layers") {
            let vars = "layers/\(g)/vars"
            let name = try f.strings(vars, "name")?.first ?? g
            var weights = [String]()
            if f.isGroup(vars) {
                let indices = try f.children(vars).compactMap(Int.init).sorted()
                weights = indices.map { "\(vars)/\($0)" }
            }
            if let n = suffix(g, "conv2d") {
                var e = H5Entry(kind: .conv, name: name); e.weights = weights; convs.append((n, e))
            } else if let n = suffix(g, "dense") {
                var e = H5Entry(kind: .dense, name: name); e.weights = weights; denses.append((n, e))
            } else if let n = suffix(g, "max_pooling2d") {
                pools.append((n, H5Entry(kind: .maxPool, name: name)))
            } else if let n = suffix(g, "average_pooling2d") {
                pools.append((n, H5Entry(kind: .averagePool, name: name)))
            } else if !weights.isEmpty {
                throw ConvertError("'\(f.path)': layer group '\(g)' has weights but is not a Conv2D or Dense layer")
            }
        }
        let c = convs.sorted { $0.0 < $1.0 }.map(\.1)
        let d = denses.sorted { $0.0 < $1.0 }.map(\.1)
        let p = pools.sorted { $0.0 < $1.0 }.map(\.1)
        if c.isEmpty { throw ConvertError("'\(f.path)': no conv2d layers under 'layers'") }
        // Where the pools go: VGG names (blockN_convI, blockN_pool) order the layers exactly;
        // otherwise the standard VGG block sizes for the number of convolutions.
        func block(_ name: String) -> (Int, Int)? {
            let parts = name.split(separator: "_")
            guard parts.count == 2, parts[0].hasPrefix("block"), let b = Int(parts[0].dropFirst(5)) else { return nil }
            if parts[1] == "pool" { return (b, Int.max) }
            guard parts[1].hasPrefix("conv"), let i = Int(parts[1].dropFirst(4)) else { return nil }
            return (b, i)
        }
        var ordered: [H5Entry]
        if (c + p).allSatisfy({ block($0.name) != nil }) {
            ordered = (c + p).sorted { a, b in
                let x = block(a.name) ?? (0, 0), y = block(b.name) ?? (0, 0)
                return x.0 != y.0 ? x.0 < y.0 : x.1 < y.1
            }
        } else {
            let standard: [Int: [Int]] = [8: [1, 1, 2, 2, 2], 10: [2, 2, 2, 2, 2], 13: [2, 2, 3, 3, 3], 16: [2, 2, 4, 4, 4]]
            guard let blocks = standard[c.count], p.isEmpty || p.count == 5 else {
                throw ConvertError("'\(f.path)': cannot tell where the pooling layers go: \(c.count) convolutions without VGG layer names (blockN_convI) and \(p.count) pooling groups")
            }
            // Without names, the layers get the standard VGG names (blockB_convI, fc1, …).
            ordered = []
            var i = 0
            for (b, n) in blocks.enumerated() {
                for j in 0..<n {
                    var conv = c[i + j]
                    conv.name = "block\(b + 1)_conv\(j + 1)"
                    ordered.append(conv)
                }
                i += n
                var pool = p.isEmpty ? H5Entry(kind: .maxPool, name: "") : p[b]
                pool.name = "block\(b + 1)_pool"
                ordered.append(pool)
            }
            let denseNames = d.count == 3 ? ["fc1", "fc2", "predictions"] : d.indices.map { "dense_\($0 + 1)" }
            notes.append("the file has no layer names: placed the pooling layers and named the layers as in the standard \(c.count + 3)-layer VGG")
            return ordered + zip(d, denseNames).map { e, n in var e = e; e.name = n; return e }
        }
        return ordered + d
    }

    /// Caffe HDF5 snapshot: `/data/<layer>/<i>`; every layer has a group, weight layers have
    /// datasets. Layer types are not stored: the standard VGG structure is inferred.
    static func caffeEntries(_ f: HDF5File) throws -> [H5Entry] {
        var weightLayers = [H5Entry]()
        for name in try f.children("data") {
            let g = "data/\(name)"
            guard f.isGroup(g) else { continue }
            let indices = try f.children(g).compactMap(Int.init).sorted()
            if indices.isEmpty { continue }
            let paths = indices.map { "\(g)/\($0)" }
            let rank = try f.shape(paths[0]).count
            guard rank == 4 || rank == 2 else {
                throw ConvertError("Caffe HDF5 layer '\(name)' has a rank-\(rank) weight; expected Convolution (4) or InnerProduct (2)")
            }
            var e = H5Entry(kind: rank == 4 ? .conv : .dense, name: name)
            e.weights = paths
            weightLayers.append(e)
        }
        // HDF5 lists names alphabetically: order convolutions by (block, index), then fc by number.
        func key(_ name: String) -> (Int, Int, Int) {
            let digits = name.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return (name.hasPrefix("fc") ? 1 : 0, digits.first ?? 0, digits.dropFirst().first ?? 0)
        }
        let sorted = weightLayers.sorted { key($0.name) < key($1.name) }
        var out = [H5Entry]()
        for (i, e) in sorted.enumerated() {
            out.append(e)
            if e.kind == .conv {
                let next = i + 1 < sorted.count ? sorted[i + 1] : nil
                let sameBlock = next.map { $0.kind == .conv && key($0.name).1 == key(e.name).1 } ?? false
                if !sameBlock { out.append(H5Entry(kind: .maxPool, name: "pool\(key(e.name).1)")) }
            }
        }
        return out
    }

    /// tf or th kernels: from the first convolution's shape (its input has 3 channels), the
    /// `backend` attribute when the shape cannot tell, or the caller's override.
    static func kernelLayout(_ f: HDF5File, entries: [H5Entry], root: String, forced: KernelLayout?,
                             notes: inout [String]) throws -> KernelLayout {
        if let forced { return forced }
        guard let first = entries.first(where: { $0.kind == .conv }), let kernel = first.weights.first else { return .tf }
        let s = try f.shape(kernel)
        let tfLike = s[2] == 3 && s[0] == s[1]
        let thLike = s[1] == 3 && s[2] == s[3]
        if tfLike && !thLike { return .tf }
        if thLike && !tfLike {
            notes.append("kernels are Theano-ordered (out, in, kh, kw): rotated 180° and fc rows read in (c, h, w) order (override with --kernel-layout)")
            return .th
        }
        let backend = try f.strings(root, "backend")?.first ?? f.strings("/", "backend")?.first
        if backend == "theano" {
            notes.append("kernel layout taken as Theano from the file's backend attribute")
            return .th
        }
        notes.append("kernel layout assumed tf (kh, kw, in, out); use --kernel-layout th for Theano files")
        return .tf
    }

    // MARK: - Network

    static func build(_ f: HDF5File, entries: [H5Entry], caffe: Bool, layout: KernelLayout, into net: inout CanonicalNetwork) throws {
        var channels = 3, height = net.inputHeight, width = net.inputWidth
        let denseCount = entries.filter { $0.kind == .dense }.count
        var densesSeen = 0
        for e in entries {
            let canonical = caffe ? e.name : (LayerNames.caffeName(ofKeras: e.name) ?? e.name)
            let alias = caffe ? LayerNames.kerasAlias(ofCaffe: e.name) : (canonical == e.name ? "" : e.name)
            switch e.kind {
            case .conv:
                guard let kernelPath = e.weights.first else { throw ConvertError("layer '\(e.name)' has no kernel") }
                let s = try f.shape(kernelPath)
                guard s.count == 4 else { throw ConvertError("layer '\(e.name)' kernel: expected 4 dimensions, found \(s)") }
                let (kh, kw, inC, outC) = caffe || layout == .th ? (s[2], s[3], s[1], s[0]) : (s[0], s[1], s[2], s[3])
                if inC != channels {
                    throw ConvertError("layer '\(e.name)' kernel \(s): expected \(channels) input channels (the previous layer's output), found \(inC)")
                }
                var l = CanonicalLayer(kind: .convolution, name: canonical)
                l.alias = alias
                (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (inC, outC, kh, kw)
                (l.strideH, l.strideW) = e.strides ?? (1, 1)
                let padding = e.padding ?? "same"
                if padding == "same" {
                    guard kh % 2 == 1, kw % 2 == 1, l.strideH == 1, l.strideW == 1 else {
                        throw ConvertError("layer '\(e.name)': 'same' padding with a \(kh)×\(kw) kernel and stride \(l.strideH) is asymmetric and not supported")
                    }
                    (l.padH, l.padW) = ((kh - 1) / 2, (kw - 1) / 2)
                } else if padding != "valid" {
                    throw ConvertError("layer '\(e.name)': padding '\(padding)' is not supported")
                }
                l.relu = caffe || (e.activation ?? "relu") == "relu"
                if let a = e.activation, a != "relu", a != "linear" {
                    throw ConvertError("layer '\(e.name)': activation '\(a)' is not supported (relu or linear)")
                }
                try checkBias(f, e, outC)
                l.hasBias = e.weights.count > 1
                l.weights = provider(f, e, transform: caffe ? .none : (layout == .th ? .rotate(kh: kh, kw: kw) : .kernelHWIO(kh: kh, kw: kw, inC: inC, outC: outC)))
                guard let h = windowOutput(height, kernel: kh, stride: l.strideH, pad: l.padH, pool: nil),
                      let w = windowOutput(width, kernel: kw, stride: l.strideW, pad: l.padW, pool: nil) else {
                    throw ConvertError("layer '\(e.name)' does not fit the \(height)×\(width) feature map at the training input size (see --input-size)")
                }
                (height, width, channels) = (h, w, outC)
                net.layers.append(l)
            case .dense:
                guard let kernelPath = e.weights.first else { throw ConvertError("layer '\(e.name)' has no kernel") }
                let s = try f.shape(kernelPath)
                guard s.count == 2 else { throw ConvertError("layer '\(e.name)' kernel: expected 2 dimensions, found \(s)") }
                let (inputs, outputs) = caffe ? (s[1], s[0]) : (s[0], s[1])
                let expected = channels * height * width
                if inputs != expected {
                    var hint = ""
                    if densesSeen == 0, inputs % channels == 0 {
                        let side = Int(Double(inputs / channels).squareRoot().rounded())
                        if side * side * channels == inputs { hint = " = \(channels) channels × \(side)×\(side): the model was trained at a different input size; pass --input-size" }
                    }
                    throw ConvertError("layer '\(e.name)' kernel \(s): expected \(expected) inputs (\(channels) channels × \(height)×\(width) at training input \(net.inputHeight)×\(net.inputWidth)), found \(inputs)\(hint)")
                }
                var l = CanonicalLayer(kind: .convolution, name: canonical)
                l.alias = alias
                l.fromInnerProduct = true
                (l.inChannels, l.outChannels, l.kernelH, l.kernelW) = (channels, outputs, height, width)
                densesSeen += 1
                let activation = e.activation ?? (densesSeen < denseCount ? "relu" : (caffe ? "linear" : "softmax"))
                l.relu = activation == "relu"
                if !["relu", "softmax", "linear"].contains(activation) {
                    throw ConvertError("layer '\(e.name)': activation '\(activation)' is not supported (relu, softmax or linear)")
                }
                if activation == "softmax" && densesSeen < denseCount {
                    throw ConvertError("layer '\(e.name)': softmax before the last layer is not supported")
                }
                try checkBias(f, e, outputs)
                l.hasBias = e.weights.count > 1
                // Keras fc1 rows follow the flatten order: (h, w, c) for tf, (c, h, w) for th.
                let transform: WeightTransform = caffe ? .none
                    : (layout == .tf ? .kernelHWIO(kh: height, kw: width, inC: channels, outC: outputs) : .transpose(rows: inputs, cols: outputs))
                l.weights = provider(f, e, transform: transform)
                (height, width, channels) = (1, 1, outputs)
                net.layers.append(l)
            case .maxPool, .averagePool:
                var l = CanonicalLayer(kind: e.kind == .maxPool ? .maxPool : .averagePool, name: canonical)
                l.alias = alias
                (l.inChannels, l.outChannels) = (channels, channels)
                (l.kernelH, l.kernelW) = e.poolSize ?? (2, 2)
                (l.strideH, l.strideW) = e.strides ?? (l.kernelH, l.kernelW)
                // Keras 'valid' pooling floors; Caffe (and Keras 'same' with stride = window) rounds up.
                l.rounding = caffe || e.padding == "same" ? .ceil : .floor
                guard let h = windowOutput(height, kernel: l.kernelH, stride: l.strideH, pad: 0, pool: l.rounding),
                      let w = windowOutput(width, kernel: l.kernelW, stride: l.strideW, pad: 0, pool: l.rounding) else {
                    throw ConvertError("layer '\(e.name)' does not fit the \(height)×\(width) feature map at the training input size (see --input-size)")
                }
                (height, width) = (h, w)
                net.layers.append(l)
            }
        }
        if !net.layers.contains(where: { $0.kind == .convolution }) { throw ConvertError("'\(f.path)' holds no convolution layers") }
        if denseCount == 0 { net.notes.append("no fully connected layers (a notop file): a features-only model, up to \(net.layers.last?.name ?? "")") }
    }

    static func checkBias(_ f: HDF5File, _ e: H5Entry, _ outputs: Int) throws {
        guard e.weights.count > 1 else { return }
        let s = try f.shape(e.weights[1])
        if s.reduce(1, *) != outputs || s.count != 1 {
            throw ConvertError("layer '\(e.name)' bias: expected (\(outputs),), found \(s)")
        }
    }

    enum WeightTransform {
        case none
        /// (kh, kw, in, out) → (out, in, kh, kw).
        case kernelHWIO(kh: Int, kw: Int, inC: Int, outC: Int)
        /// (out, in, kh, kw) rotated 180° → cross-correlation kernel.
        case rotate(kh: Int, kw: Int)
        /// (rows, cols) → (cols, rows).
        case transpose(rows: Int, cols: Int)
    }

    static func provider(_ f: HDF5File, _ e: H5Entry, transform: WeightTransform) -> WeightProvider {
        return { body in
            let raw = try f.floats(e.weights[0])
            var oihw = [Float](repeating: 0, count: raw.count)
            switch transform {
            case .none:
                oihw = raw
            case let .kernelHWIO(kh, kw, inC, outC):
                for y in 0..<kh { for x in 0..<kw { for i in 0..<inC {
                    let src = ((y * kw + x) * inC + i) * outC
                    for o in 0..<outC { oihw[((o * inC + i) * kh + y) * kw + x] = raw[src + o] }
                } } }
            case let .rotate(kh, kw):
                let planes = raw.count / (kh * kw)
                for p in 0..<planes { for y in 0..<kh { for x in 0..<kw {
                    oihw[(p * kh + y) * kw + x] = raw[(p * kh + (kh - 1 - y)) * kw + (kw - 1 - x)]
                } } }
            case let .transpose(rows, cols):
                for r in 0..<rows { for c in 0..<cols { oihw[c * rows + r] = raw[r * cols + c] } }
            }
            if e.weights.count > 1 {
                let bias = try f.floats(e.weights[1])
                try oihw.withUnsafeBufferPointer { w in
                    try bias.withUnsafeBufferPointer { b in try body(WeightSource(w), WeightSource(b)) }
                }
            } else {
                try oihw.withUnsafeBufferPointer { try body(WeightSource($0), nil) }
            }
        }
    }
}
