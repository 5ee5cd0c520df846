// A model's description as JSON (vgg_model_describe, `vgg info --json`) and as words.
import VGGFormat

extension Layer {
    /// Short type text: "conv+relu", "fc→conv", "maxpool (floor)", "lrn(5)".
    public var typeDescription: String {
        switch kind {
        case .convolution: return (fromInnerProduct ? "fc→conv" : "conv") + (relu ? "+relu" : "")
        case .maxPool: return "maxpool" + (rounding == .floor ? " (floor)" : "")
        case .averagePool: return "avgpool" + (rounding == .floor ? " (floor)" : "")
        case .lrn: return "lrn(\(lrnLocalSize))"
        }
    }
}

extension Model {
    /// Weight dtypes used by the convolution tensors, e.g. "f32".
    public var weightDTypes: String {
        Set(tensors.filter { $0.layout != .vector16 }.map(\.dtype.name)).sorted().joined(separator: ",")
    }

    /// Smallest square input for which the whole network (classifier included) has output.
    public var minimumInputSide: Int { Planner.minimumInput(model: self, through: layers.count - 1) }

    public func describe(path: String? = nil) -> JSON {
        let layerList: [JSON] = layers.map { l in
            .object([("name", .string(l.name)), ("alias", .string(l.alias)), ("type", .string(l.typeDescription)),
                     ("kind", .string(["convolution", "max_pool", "average_pool", "lrn"][Int(l.kind.rawValue) - 1])),
                     ("in_channels", .int(l.inChannels)), ("out_channels", .int(l.outChannels)),
                     ("kernel", .array([.int(l.kernelH), .int(l.kernelW)])),
                     ("stride", .array([.int(l.strideH), .int(l.strideW)])),
                     ("pad", .array([.int(l.padH), .int(l.padW)])),
                     ("relu", .bool(l.relu)), ("fully_connected", .bool(l.fromInnerProduct)),
                     ("rounding", .string(l.rounding == .ceil ? "ceil" : "floor")),
                     ("parameters", .int(l.parameterCount))])
        }
        var fields: [(String, JSON)] = [
            ("name", .string(name)), ("file_size", .int(mapping.count)), ("format_version", .int(formatVersion)),
            ("source_format", .string(sourceFormat.name)), ("dtype", .string(weightDTypes)),
            ("parameters", .int(parameterCount)), ("classes", .int(classCount)),
            ("input_size", .array([.int(inputHeight), .int(inputWidth)])),
            ("minimum_input_size", .int(minimumInputSide)),
            ("channel_order", .string(channelOrder == .bgr ? "bgr" : "rgb")),
            ("mean", .array(mean.map { .float($0) })),
            ("scale", .array(scale.map { .float($0) })), ("labels", .int(labels.count)),
            ("layers", .array(layerList)),
        ]
        if let path { fields.insert(("file", .string(path)), at: 1) }
        return .object(fields)
    }
}
