// Output size of a convolution or pooling window along one axis: the rule of docs/FORMAT.md,
// shared by the writer's checks, the reader and the engine's planner so they cannot disagree.

/// Output size for `input` positions, nil when the window does not fit. `pool` nil means a
/// convolution (floor); pooling rounds as the model says and, with padding, drops a last window
/// that would start in the padding (Caffe's rule).
@inline(__always)
public func windowOutput(_ input: Int, kernel: Int, stride: Int, pad: Int, pool: PoolRounding?) -> Int? {
    let span = input + 2 * pad - kernel
    if span < 0 { return nil }
    guard let pool else { return span / stride + 1 }
    var out = (pool == .ceil ? (span + stride - 1) / stride : span / stride) + 1
    if pad > 0 && (out - 1) * stride >= input + pad { out -= 1 }
    return out
}
