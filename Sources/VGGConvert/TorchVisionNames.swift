// The torchvision and timm VGG facts in one place: where convolutions, BatchNorms and max pools
// sit in `features` (torchvision's make_layers and timm's VGG build it the same way), the
// classifier modules, the canonical names they map to, and the ImageNet preprocessing both use.
import VGGFormat

public enum TorchVisionNames {
    /// Both libraries feed RGB scaled to [0, 1], normalised by the ImageNet mean and std; on
    /// 0…255 pixels that is mean·255 and scale 1/(std·255).
    public static let channelOrder = ChannelOrder.rgb
    public static let mean: [Float] = [0.485 * 255, 0.456 * 255, 0.406 * 255]
    public static let scale: [Float] = [1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)]
    /// nn.BatchNorm2d's default, which torchvision and timm VGGs keep.
    public static let batchNormEpsilon = 1e-5

    /// The canonical fc6, fc7, fc8 and the modules that hold them.
    public static let fcNames = ["fc6", "fc7", "fc8"]
    /// torchvision: Linear layers in `classifier` (ReLU and Dropout between them).
    public static let torchvisionClassifier = ["classifier.0", "classifier.3", "classifier.6"]
    /// timm: a 7×7 and a 1×1 conv in `pre_logits`, then global average pooling and a Linear.
    public static let timmClassifier = ["pre_logits.fc1", "pre_logits.fc2", "head.fc"]

    public struct FeatureLayer: Equatable {
        public enum Kind: Equatable { case convolution, maxPool }
        public var kind: Kind
        /// Position in `features` (the `N` of `features.N`).
        public var index: Int
        /// Canonical name: convB_I or poolB.
        public var name: String
        /// Position of the BatchNorm that follows a convolution, if any.
        public var batchNormIndex: Int?
        /// The source name, stored as the layer's alias.
        public var alias: String { "features.\(index)" }
    }

    /// The `features` layers from the positions of the convolutions and of the BatchNorms
    /// (the state dict holds no entries for ReLU and max pool). make_layers appends per conv
    /// `conv, [bn], relu` and a 2×2/2 max pool after each block, so a gap of one more than a
    /// conv's own span is a pool, and the network ends with one.
    public static func featureLayers(convolutions: [Int], batchNorms: Set<Int>) throws -> [FeatureLayer] {
        let convs = convolutions.sorted()
        guard !convs.isEmpty else { throw ConvertError("no convolution weights under 'features.'") }
        if convs[0] != 0 { throw ConvertError("the first convolution is features.\(convs[0]); torchvision and timm VGGs start with features.0") }
        for b in batchNorms where !convs.contains(b - 1) {
            throw ConvertError("BatchNorm features.\(b) does not follow a convolution (features.\(b - 1) is not one)")
        }
        var layers = [FeatureLayer]()
        var block = 1, inBlock = 0
        for (k, i) in convs.enumerated() {
            let hasBN = batchNorms.contains(i + 1)
            inBlock += 1
            layers.append(FeatureLayer(kind: .convolution, index: i, name: "conv\(block)_\(inBlock)", batchNormIndex: hasBN ? i + 1 : nil))
            let span = hasBN ? 3 : 2  // conv, [bn], relu
            let next = k + 1 < convs.count ? convs[k + 1] : nil
            if next == i + span { continue }
            if next == nil || next == i + span + 1 {
                layers.append(FeatureLayer(kind: .maxPool, index: i + span, name: "pool\(block)", batchNormIndex: nil))
                block += 1
                inBlock = 0
                continue
            }
            throw ConvertError("features.\(next ?? 0) follows the convolution features.\(i) at a gap of \((next ?? 0) - i); a torchvision/timm VGG has \(span) (same block) or \(span + 1) (a max pool between)")
        }
        return layers
    }

    /// The key without a DataParallel `module.` prefix.
    public static func strippingModulePrefix(_ key: String) -> String {
        key.hasPrefix("module.") ? String(key.dropFirst(7)) : key
    }
}
