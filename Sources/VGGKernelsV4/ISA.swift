// This module is compiled with -march=x86-64-v4 (AVX-512).
import CVggSupport

/// a + b·c, fused (one vfmadd per 16 lanes with FMA enabled).
@inline(__always)
func multiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    vggsupport_fma16(a, b, c)
}

/// Whether the convolution tile covers two output blocks (32 zmm registers hold the 16 accumulators of a block pair).
public let pairBlocks = true
