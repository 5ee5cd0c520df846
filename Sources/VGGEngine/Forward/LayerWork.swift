// What each layer of a run computes and reads, for measuring how close a run comes to the
// machine's limits (`vgg bench --layers`): the algorithm the forward pass picks for it, the
// multiply-adds its kernels do (Winograd counts its element-wise products, not the direct
// convolution it stands for) and the weight bytes it reads.
import VGGFormat

/// One layer's share of a run of `n` images.
public struct LayerWork: Sendable {
    /// "F(4×4,3×3)", "F(6×6,3×3)", "direct", "fc", "pooling", "LRN" or "reference".
    public let algorithm: String
    /// Multiply-adds of the layer's products (Winograd: points × tiles × channel pairs; its
    /// transforms are not counted), for the whole batch.
    public let multiplyAdds: Double
    /// Bytes of weights the layer reads from memory per run (the fc layers read theirs once
    /// for the whole batch; a lone pixel reads only those of its non-zero inputs, fewer).
    public let weightBytes: Int
    /// Products as bf16 dot products (two multiply-adds per lane and instruction).
    public let bf16DotProducts: Bool
    /// Products on AMX tiles (bf16DotProducts is then true too).
    public var amxTiles = false
}

extension Session {
    /// The work of every layer of a run of `n` images at height×width with the current options.
    public func layerWork(n: Int = 1, height: Int, width: Int) throws -> [LayerWork] {
        try checkInput(n: n, height: height, width: width)
        let plan = try ForwardPlan(model: model, height: height, width: width, through: model.layers.count - 1)
        let tiles = forceReference ? [] : winogradTiles(plan)
        let winograd = forceReference ? [] : winogradSites(plan).map(\.index)
        let firstFC = Session.fcStart(model: model, through: plan.last) ?? plan.last + 1
        return model.layers.indices.map { i in
            let l = model.layers[i], out = plan.shapes[i], images = Double(n)
            let weightBytes = l.weight?.byteLength ?? 0
            switch l.kind {
            case .maxPool, .averagePool: return LayerWork(algorithm: "pooling", multiplyAdds: 0, weightBytes: 0, bf16DotProducts: false)
            case .lrn: return LayerWork(algorithm: "LRN", multiplyAdds: 0, weightBytes: 0, bf16DotProducts: false)
            case .convolution: break
            }
            let direct = Double(out.height * out.width) * Double(l.inChannels * l.kernelH * l.kernelW * l.outChannels) * images
            if forceReference { return LayerWork(algorithm: "reference", multiplyAdds: direct, weightBytes: weightBytes, bf16DotProducts: false) }
            if winograd.contains(i), i < tiles.count {
                let m = tiles[i], points = (m + 2) * (m + 2)
                let tileCount = ((out.height + m - 1) / m) * ((out.width + m - 1) / m)
                let products = Double(points * tileCount) * Double(l.inChannels * l.outChannels) * images
                let bf16 = l.weight.map { useBF16Winograd(l, weight: $0) } ?? false
                var work = LayerWork(algorithm: "F(\(m)×\(m),3×3)", multiplyAdds: products, weightBytes: weightBytes, bf16DotProducts: bf16)
                work.amxTiles = l.weight.map { useAMX(l, weight: $0) } ?? false
                return work
            }
            let taps = l.inChannels * l.kernelH * l.kernelW
            let amx = i >= firstFC && (l.weight.map { useAMXFC($0, taps: taps, perImage: out.height * out.width) } ?? false)
            let bf16 = i >= firstFC && (l.weight.map(useBF16) ?? false)
            var work = LayerWork(algorithm: i >= firstFC ? "fc" : "direct", multiplyAdds: direct, weightBytes: weightBytes,
                                 bf16DotProducts: bf16 || amx)
            work.amxTiles = amx
            return work
        }
    }
}
