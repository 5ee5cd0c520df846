// This module is compiled with -march=x86-64-v3 (AVX2, FMA, F16C).
import CVggSupport

/// a + b·c, fused (vfmadd on 8 lanes at a time with FMA enabled).
@inline(__always)
func multiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
    vggsupport_fma16(a, b, c)
}

/// Whether the convolution tile covers two output blocks (16 ymm registers: a pair of 16-lane blocks would spill).
public let pairBlocks = false
