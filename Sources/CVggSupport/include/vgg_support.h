/* Small C helpers for the engine: CPU feature detection (Swift cannot call
 * __builtin_cpu_supports). Internal: not part of the public API, not exported from libvgg.so. */
#ifndef VGG_SUPPORT_H
#define VGG_SUPPORT_H

/* 1 if the CPU (and OS) support the x86-64-v3 level (AVX2, FMA, F16C, BMI2), else 0. */
int vggsupport_cpu_is_x86_64_v3(void);
/* 1 if the CPU supports the x86-64-v4 level (AVX-512 F/BW/CD/DQ/VL on top of v3), else 0. */
int vggsupport_cpu_is_x86_64_v4(void);

/* Asks for the cache line holding p ahead of its use (never faults, any address). Swift has no
 * prefetch; the Winograd weight transform stalls on DRAM without it (weights are read once per
 * run, in short bursts between stores). Inline: compiled into each kernel module with its flags. */
static inline void vggsupport_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* The same into L2 only (prefetcht1): for data wanted in a while, which should not push the
 * current working set out of L1. */
static inline void vggsupport_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }

/* 16 floats: imported into Swift as SIMD16<Float>. */
typedef float vggsupport_float16 __attribute__((ext_vector_type(16)));

/* a + b·c in one vector FMA (llvm.fma.v16f32: one zmm vfmadd with AVX-512, two ymm with AVX2).
 * Swift's SIMD16<Float>.addingProduct is a per-lane loop that LLVM's SLP vectoriser puts back
 * together at the tuning's preferred width (256 bits for x86-64-v4): ymm halves, inserts and
 * spills in every transform. Only for modules compiled with FMA (a libm call per lane without). */
static inline __attribute__((always_inline)) vggsupport_float16
vggsupport_fma16(vggsupport_float16 a, vggsupport_float16 b, vggsupport_float16 c) {
    return __builtin_elementwise_fma(b, c, a);
}

/* 16 lane masks (−1 where true), for the selects below. */
typedef int vggsupport_int16 __attribute__((ext_vector_type(16)));

/* v where v ≥ 0 or NaN, else 0 (Caffe's ReLU; NaN passes through). Written as a mask in C for
 * the same reason as vggsupport_fma16: Swift's `replacing(with:where:)` is a per-lane loop that
 * comes back as ymm halves. */
static inline __attribute__((always_inline)) vggsupport_float16 vggsupport_relu16(vggsupport_float16 v) {
    vggsupport_int16 negative = v < 0;
    return (vggsupport_float16)((vggsupport_int16)v & ~negative);
}

/* 16 bf16 values: imported into Swift as SIMD16<UInt16>; their f32 bit patterns. */
typedef unsigned short vggsupport_uint16x16 __attribute__((ext_vector_type(16)));
typedef unsigned int vggsupport_uint32x16 __attribute__((ext_vector_type(16)));

/* bf16 of 16 floats, rounded to nearest even (vcvtneps2bf16's result for every finite value,
 * and the bf16 kernels' packing). In C for the narrowing: Swift's truncating SIMD16<UInt16>
 * initialiser came out as 128-bit packs, extracts and inserts (72 of each per input
 * transform) where this is one vpmovdw. */
static inline __attribute__((always_inline)) vggsupport_uint16x16 vggsupport_bf16x16(vggsupport_float16 v) {
    vggsupport_uint32x16 b = (vggsupport_uint32x16)v;
    return __builtin_convertvector((b + 0x7fffu + ((b >> 16) & 1u)) >> 16, vggsupport_uint16x16);
}

/* b where b > a, else a (a NaN in a stays; a NaN in b is ignored): max pooling's comparison. */
static inline __attribute__((always_inline)) vggsupport_float16
vggsupport_larger16(vggsupport_float16 a, vggsupport_float16 b) {
    vggsupport_int16 take = b > a;
    return (vggsupport_float16)(((vggsupport_int16)b & take) | ((vggsupport_int16)a & ~take));
}

#endif
