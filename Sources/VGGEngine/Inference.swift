// The session's public runs: raw score maps, class probabilities, features of named layers.
import Glibc
import VGGFormat

extension Session {
    /// Shape of layer `layer`'s output (default: the last layer) for one input image.
    public func outputShape(layer: Int? = nil, height: Int, width: Int) throws -> ActivationShape {
        try checkInput(n: 1, height: height, width: width)
        let last = layer ?? model.layers.count - 1
        guard last >= 0 && last < model.layers.count else {
            throw VGGError(.notFound, "layer index \(last): the model has \(model.layers.count) layers")
        }
        return try Planner.shapes(model: model, height: height, width: width, through: last)[last]
    }

    /// Raw class score map (before soft-max) of `n` preprocessed CHW images: n×K×h×w floats.
    public func forward(input: UnsafePointer<Float>, n: Int, height: Int, width: Int,
                        output: UnsafeMutablePointer<Float>, capacity: Int) throws -> ActivationShape {
        try requireClassifier()
        let last = model.layers.count - 1
        let shape = try outputShape(height: height, width: width)
        let needed = n * shape.count
        if capacity < needed {
            throw VGGError(.bufferTooSmall, "scores: expected room for \(n)×\(shape.channels)×\(shape.height)×\(shape.width) = \(needed) floats, found \(capacity)")
        }
        try run(input: input, n: n, height: height, width: width, through: last, wanted: [last]) { _, image, s, out in
            out.copy(shape: s, to: output + image * s.count)
        }
        return shape
    }

    /// Class probabilities (n×K): the score map averaged over space, then soft-max.
    public func probabilities(input: UnsafePointer<Float>, n: Int, height: Int, width: Int,
                              output: UnsafeMutablePointer<Float>, capacity: Int) throws {
        try requireClassifier()
        let k = model.classCount
        if capacity < n * k {
            throw VGGError(.bufferTooSmall, "probabilities: expected room for \(n)×\(k) = \(n * k) floats, found \(capacity)")
        }
        let last = model.layers.count - 1
        try run(input: input, n: n, height: height, width: width, through: last, wanted: [last], scores: true) { _, image, s, out in
            let scores = try scoreBuffer.claim(s.count, for: "scores")
            out.copy(shape: s, to: scores)
            Session.softmaxOfMean(scores, shape: s, into: output + image * k)
        }
    }

    /// Mean over space of a K×h×w score map, then a numerically stable soft-max.
    static func softmaxOfMean(_ scores: UnsafePointer<Float>, shape s: ActivationShape, into out: UnsafeMutablePointer<Float>) {
        let plane = s.height * s.width
        var means = [Double](repeating: 0, count: s.channels)
        for c in 0..<s.channels {
            var sum = 0.0
            for p in 0..<plane { sum += Double(scores[c * plane + p]) }
            means[c] = sum / Double(plane)
        }
        let top = means.max() ?? 0
        var total = 0.0
        for c in 0..<s.channels {
            means[c] = exp(means[c] - top)
            total += means[c]
        }
        for c in 0..<s.channels { out[c] = Float(means[c] / total) }
    }

    /// Outputs of the named layers (CHW per image), computed in one pass that stops after the
    /// deepest requested layer. `outputs[i]` receives n × shape(layers[i]).count floats.
    public func features(input: UnsafePointer<Float>, n: Int, height: Int, width: Int, layers names: [String],
                         outputs: [UnsafeMutablePointer<Float>], capacities: [Int]) throws {
        guard !names.isEmpty, names.count == outputs.count, names.count == capacities.count else {
            throw VGGError(.invalidArgument, "features: expected equal, non-zero numbers of layers, outputs and capacities, found \(names.count), \(outputs.count), \(capacities.count)")
        }
        try checkInput(n: n, height: height, width: width)
        var indices = [Int]()
        for name in names {
            guard let i = model.layerIndex(named: name) else {
                throw VGGError(.notFound, "features: no layer named '\(name)' (layers: \(model.layers.map(\.name).joined(separator: ", ")))")
            }
            indices.append(i)
        }
        let last = indices.max() ?? 0
        let shapes = try Planner.shapes(model: model, height: height, width: width, through: last)
        for (j, i) in indices.enumerated() where capacities[j] < n * shapes[i].count {
            throw VGGError(.bufferTooSmall, "features: output for '\(names[j])' needs \(n)×\(shapes[i].count) = \(n * shapes[i].count) floats, found \(capacities[j])")
        }
        try run(input: input, n: n, height: height, width: width, through: last, wanted: Set(indices)) { layer, image, s, out in
            for (j, i) in indices.enumerated() where i == layer {
                out.copy(shape: s, to: outputs[j] + image * s.count)
            }
        }
    }

    func requireClassifier() throws {
        if model.classCount == 0 {
            throw VGGError(.unsupported, "model '\(model.name)' has no classifier (its last layer '\(model.layers.last?.name ?? "")' is not an fc layer); use features instead")
        }
    }
}
