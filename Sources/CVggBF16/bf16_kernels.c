/* bf16 dot-product kernels: see include/vgg_bf16.h. */
#include "vgg_bf16.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int vggbf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16") ? 1 : 0;
}

int vggbf16_full_rate(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    /* "AuthenticAMD" in EBX, EDX, ECX. */
    return ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u ? 1 : 0;
}

BF16_TARGET void vggbf16_convert(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i + 16 <= count; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)h);
    }
}

/* bf16 bits of 16 floats in the high halves of 32-bit lanes, round to nearest even. */
BF16_TARGET static inline __m512i bf16_high(__m512 x) {
    __m512i b = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    b = _mm512_add_epi32(b, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
    return _mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u));
}

BF16_TARGET void vggbf16_pack_pairs(const float *u, size_t uStride, uint32_t *p, size_t pStride, size_t channels, size_t points) {
    size_t pairs = channels / 2;
    for (size_t xi = 0; xi < points; xi++) {
        const float *ux = u + xi * uStride;
        uint32_t *px = p + xi * pStride;
        for (size_t q = 0; q < pairs; q++) {
            for (size_t k = 0; k < 2; k++) {
                __m512i lo = _mm512_srli_epi32(bf16_high(_mm512_loadu_ps(ux + ((2 * q) * 2 + k) * 16)), 16);
                __m512i hi = bf16_high(_mm512_loadu_ps(ux + ((2 * q + 1) * 2 + k) * 16));
                _mm512_storeu_si512(px + (q * 2 + k) * 16, _mm512_or_si512(lo, hi));
            }
        }
    }
}

BF16_TARGET void vggbf16_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                                           const uint32_t *p, size_t pStride, size_t tiles, float *m, size_t mStride,
                                           int accumulate, size_t points) {
    for (size_t xi = 0; xi < points; xi++) {
        const uint16_t *vx = v + xi * vStride;
        const uint32_t *px = p + xi * pStride;
        float *mx = m + xi * mStride;
        for (size_t j0 = 0; j0 < tiles; j0 += 8) {
            size_t n = tiles - j0 < 8 ? tiles - j0 : 8;
            if (n <= 2) {
                /* A ragged end of one or two tiles: one chain per tile and block, same sums. */
                for (size_t t = j0; t < tiles; t++) {
                    __m512 a = accumulate ? _mm512_loadu_ps(mx + t * 32) : _mm512_setzero_ps();
                    __m512 b = accumulate ? _mm512_loadu_ps(mx + t * 32 + 16) : _mm512_setzero_ps();
                    for (size_t q = 0; q < pairs; q++) {
                        size_t c = c0 + 2 * q;
                        uint32_t pair;
                        __builtin_memcpy(&pair, vx + (c / 16) * blockStride + t * 16 + c % 16, 4);
                        __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
                        a = _mm512_dpbf16_ps(a, (__m512bh)_mm512_loadu_si512(px + q * 32), x);
                        b = _mm512_dpbf16_ps(b, (__m512bh)_mm512_loadu_si512(px + q * 32 + 16), x);
                    }
                    _mm512_storeu_ps(mx + t * 32, a);
                    _mm512_storeu_ps(mx + t * 32 + 16, b);
                }
                break;
            }
            /* Tile k reads at o[k] (clamped to the last real tile, computed again, not stored). */
            size_t o[8];
            for (size_t k = 0; k < 8; k++) o[k] = (k < n ? k : n - 1) * 16;
            __m512 a[8], b[8];
            for (size_t k = 0; k < 8; k++) {
                a[k] = accumulate && k < n ? _mm512_loadu_ps(mx + (j0 + k) * 32) : _mm512_setzero_ps();
                b[k] = accumulate && k < n ? _mm512_loadu_ps(mx + (j0 + k) * 32 + 16) : _mm512_setzero_ps();
            }
            for (size_t q = 0; q < pairs; q++) {
                size_t c = c0 + 2 * q;
                const uint16_t *base = vx + (c / 16) * blockStride + j0 * 16 + c % 16;
                __m512bh w0 = (__m512bh)_mm512_loadu_si512(px + q * 32);
                __m512bh w1 = (__m512bh)_mm512_loadu_si512(px + q * 32 + 16);
                for (size_t k = 0; k < 8; k++) {
                    uint32_t pair;
                    __builtin_memcpy(&pair, base + o[k], 4);
                    __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
                    a[k] = _mm512_dpbf16_ps(a[k], w0, x);
                    b[k] = _mm512_dpbf16_ps(b[k], w1, x);
                }
            }
            for (size_t k = 0; k < n; k++) {
                _mm512_storeu_ps(mx + (j0 + k) * 32, a[k]);
                _mm512_storeu_ps(mx + (j0 + k) * 32 + 16, b[k]);
            }
        }
    }
}

static inline uint32_t bf16_bits(float f) {
    uint32_t b;
    __builtin_memcpy(&b, &f, 4);
    return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
}

void vggbf16_im2col(const float *input, const int64_t *offsets, size_t taps, const int64_t *pixelInput,
                    size_t pixels, uint32_t *x) {
    size_t pairs = (taps + 1) / 2;
    for (size_t j = 0; j < pixels; j++) {
        const float *origin = input + pixelInput[j];
        uint32_t *row = x + j * pairs;
        for (size_t q = 0; q < pairs; q++) {
            uint32_t lo = bf16_bits(origin[offsets[2 * q]]);
            uint32_t hi = 2 * q + 1 < taps ? bf16_bits(origin[offsets[2 * q + 1]]) : 0;
            row[q] = lo | hi << 16;
        }
    }
}

BF16_TARGET static inline __m512bh pair_of_taps(const uint16_t *w, size_t taps, size_t q) {
    __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + 2 * q * 16)));
    __m512i hi = 2 * q + 1 < taps ? _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + (2 * q + 1) * 16)))
                                  : _mm512_setzero_si512();
    return (__m512bh)_mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

BF16_TARGET void vggbf16_pack_taps(const uint16_t *w, size_t taps, size_t q0, size_t q1, uint32_t *p) {
    for (size_t q = q0; q < q1; q++) _mm512_storeu_si512(p + (q - q0) * 16, (__m512i)pair_of_taps(w, taps, q));
}

BF16_TARGET void vggbf16_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                                const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                                const float *bias1, int relu) {
    float *store1 = out1 ? out1 : out0;
    for (size_t j0 = 0; j0 < pixels; j0 += 8) {
        size_t n = pixels - j0 < 8 ? pixels - j0 : 8;
        const uint32_t *row[8];
        for (size_t k = 0; k < 8; k++) row[k] = x + (j0 + (k < n ? k : n - 1)) * pairs;
        __m512 a[8], b[8];
        for (size_t k = 0; k < 8; k++) {
            size_t at = (size_t)pixelOutput[j0 + (k < n ? k : n - 1)];
            a[k] = q0 == 0 ? (bias0 ? _mm512_loadu_ps(bias0) : _mm512_setzero_ps()) : _mm512_loadu_ps(out0 + at);
            b[k] = q0 == 0 ? (bias1 ? _mm512_loadu_ps(bias1) : _mm512_setzero_ps()) : _mm512_loadu_ps(store1 + at);
        }
        for (size_t q = q0; q < q1; q++) {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(p0 + (q - q0) * 16);
            __m512bh w1 = (__m512bh)_mm512_loadu_si512(p1 + (q - q0) * 16);
            for (size_t k = 0; k < 8; k++) {
                __m512bh v = (__m512bh)_mm512_set1_epi32((int)row[k][q]);
                a[k] = _mm512_dpbf16_ps(a[k], w0, v);
                b[k] = _mm512_dpbf16_ps(b[k], w1, v);
            }
        }
        for (size_t k = 0; k < n; k++) {
            size_t at = (size_t)pixelOutput[j0 + k];
            __m512 y = a[k], z = b[k];
            if (relu) { y = _mm512_max_ps(y, _mm512_setzero_ps()); z = _mm512_max_ps(z, _mm512_setzero_ps()); }
            _mm512_storeu_ps(out0 + at, y);
            if (out1) _mm512_storeu_ps(out1 + at, z);
        }
    }
}

/* A lone pixel's two sums start from the biases (or zero)... */
BF16_TARGET static inline __m512 bias_or_zero(const float *bias) {
    return bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
}

/* ...and end with ReLU when asked, block 1 stored unless out1 is NULL. */
BF16_TARGET static inline void store_pixel(__m512 a, __m512 b, float *out0, float *out1, int relu) {
    if (relu) { a = _mm512_max_ps(a, _mm512_setzero_ps()); b = _mm512_max_ps(b, _mm512_setzero_ps()); }
    _mm512_storeu_ps(out0, a);
    if (out1) _mm512_storeu_ps(out1, b);
}

BF16_TARGET void vggbf16_gather_one(const uint32_t *x, size_t taps, const uint16_t *w0, const uint16_t *w1, float *out0,
                                    float *out1, const float *bias0, const float *bias1, int relu) {
    size_t pairs = (taps + 1) / 2;
    __m512 a = bias_or_zero(bias0), b = bias_or_zero(bias1);
    for (size_t q = 0; q < pairs; q++) {
        /* The weight stream is read once: ask for it 4 KiB ahead. */
        __builtin_prefetch(w0 + (2 * q + 128) * 16, 0, 3);
        __builtin_prefetch(w1 + (2 * q + 128) * 16, 0, 3);
        __m512bh v = (__m512bh)_mm512_set1_epi32((int)x[q]);
        a = _mm512_dpbf16_ps(a, pair_of_taps(w0, taps, q), v);
        b = _mm512_dpbf16_ps(b, pair_of_taps(w1, taps, q), v);
    }
    store_pixel(a, b, out0, out1, relu);
}

BF16_TARGET void vggbf16_gather_one_sparse(const uint32_t *x, const uint32_t *pairs, size_t count, size_t taps,
                                           const uint16_t *w0, const uint16_t *w1, float *out0, float *out1,
                                           const float *bias0, const float *bias1, int relu) {
    __m512 a = bias_or_zero(bias0), b = bias_or_zero(bias1);
    for (size_t k = 0; k < count; k++) {
        size_t q = pairs[k];
        /* Irregular reads: ask for the pair 32 non-zero pairs ahead. */
        if (k + 32 < count) {
            __builtin_prefetch(w0 + 2 * (size_t)pairs[k + 32] * 16, 0, 3);
            __builtin_prefetch(w1 + 2 * (size_t)pairs[k + 32] * 16, 0, 3);
        }
        __m512bh v = (__m512bh)_mm512_set1_epi32((int)x[q]);
        a = _mm512_dpbf16_ps(a, pair_of_taps(w0, taps, q), v);
        b = _mm512_dpbf16_ps(b, pair_of_taps(w1, taps, q), v);
    }
    store_pixel(a, b, out0, out1, relu);
}

#else
int vggbf16_supported(void) { return 0; }
int vggbf16_full_rate(void) { return 0; }
void vggbf16_gather_one_sparse(const uint32_t *x, const uint32_t *pairs, size_t count, size_t taps, const uint16_t *w0,
                               const uint16_t *w1, float *out0, float *out1, const float *bias0, const float *bias1,
                               int relu) {
    (void)x; (void)pairs; (void)count; (void)taps; (void)w0; (void)w1; (void)out0; (void)out1; (void)bias0; (void)bias1;
    (void)relu;
}
void vggbf16_gather_one(const uint32_t *x, size_t taps, const uint16_t *w0, const uint16_t *w1, float *out0,
                        float *out1, const float *bias0, const float *bias1, int relu) {
    (void)x; (void)taps; (void)w0; (void)w1; (void)out0; (void)out1; (void)bias0; (void)bias1; (void)relu;
}
void vggbf16_im2col(const float *input, const int64_t *offsets, size_t taps, const int64_t *pixelInput,
                    size_t pixels, uint32_t *x) { (void)input; (void)offsets; (void)taps; (void)pixelInput; (void)pixels; (void)x; }
void vggbf16_pack_taps(const uint16_t *w, size_t taps, size_t q0, size_t q1, uint32_t *p) { (void)w; (void)taps; (void)q0; (void)q1; (void)p; }
void vggbf16_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                    const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                    const float *bias1, int relu) {
    (void)x; (void)pairs; (void)pixels; (void)q0; (void)q1; (void)p0; (void)p1; (void)out0; (void)out1; (void)pixelOutput;
    (void)bias0; (void)bias1; (void)relu;
}
void vggbf16_convert(const float *src, uint16_t *dst, size_t count) { (void)src; (void)dst; (void)count; }
void vggbf16_pack_pairs(const float *u, size_t uStride, uint32_t *p, size_t pStride, size_t channels, size_t points) {
    (void)u; (void)uStride; (void)p; (void)pStride; (void)channels; (void)points;
}
void vggbf16_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                               const uint32_t *p, size_t pStride, size_t tiles, float *m, size_t mStride, int accumulate,
                               size_t points) {
    (void)v; (void)vStride; (void)blockStride; (void)c0; (void)pairs; (void)p; (void)pStride; (void)tiles; (void)m; (void)mStride;
    (void)accumulate; (void)points;
}
#endif
