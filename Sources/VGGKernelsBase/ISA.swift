// This module is compiled for baseline x86-64 (SSE2): the fallback on CPUs without FMA.

/// a + b·c, NOT fused: without FMA hardware `addingProduct` becomes a libm fmaf call per lane
/// (~145× slower); a multiply and an add vectorise to SSE instead. Results differ from the
/// fused paths by rounding only.
@inline(__always)
func multiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    a + b * c
}

/// Whether the convolution tile covers two output blocks (16 xmm registers: a pair of 16-lane blocks would spill).
public let pairBlocks = false
