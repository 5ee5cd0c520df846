/* bf16 dot-product kernels (AVX512-BF16 vdpbf16ps) for the Winograd products of bf16-weight
 * models: Swift cannot reach these instructions, so this small C tier holds them. Every
 * function is compiled for AVX512-F/BW/VL + BF16 only (target attributes) and must only be
 * called when vggbf16_supported() returns 1. Internal: not exported from libvgg.so. */
#ifndef VGG_BF16_H
#define VGG_BF16_H

#include <stddef.h>
#include <stdint.h>

/* 1 if the CPU runs AVX512-F/BW/VL and AVX512-BF16, else 0. */
int vggbf16_supported(void);

/* 1 if the CPU's vdpbf16ps runs at least as many products per cycle as its f32 FMAs, so that
 * bf16 dot products pay: AMD (Zen 4: one 512-bit vdpbf16ps per cycle, 32 products, against 16
 * of one 512-bit FMA). 0 elsewhere: on Intel (measured on an Emerald Rapids core: one
 * vdpbf16ps per two cycles, 87 GFLOP/s against 178 of its two FMA ports) f32 arithmetic on the
 * widened bf16 weights is faster. Meaningful only where vggbf16_supported() is 1. */
int vggbf16_full_rate(void);

/* dst[i] = bf16(src[i]) (round to nearest even) for i < count; count a multiple of 16. */
void vggbf16_convert(const float *src, uint16_t *dst, size_t count);

/* Transformed weights U[xi][c][2][16] (f32, channels × 2 output blocks × 16 lanes, `channels`
 * even, xi `uStride` floats apart) to the dot-product layout P[xi][c/2][2][16] of 32-bit pairs
 * (bf16 of channel 2p in the low half, of 2p + 1 in the high half; xi `pStride` words apart),
 * for `points` points. */
void vggbf16_pack_pairs(const float *u, size_t uStride, uint32_t *p, size_t pStride, size_t channels, size_t points);

/* For the points xi < points (36 for F(4×4), 64 for F(6×6)) and tiles t < tiles (tile indices 0 …), output blocks k = 0, 1:
 *   m[xi·mStride + t·32 + k·16 + lane] (+)= Σ_p dot(P[xi][p][k][lane], V pair p of tile t)
 * where V pair p of tile t is the two bf16 at v + xi·vStride + ((c0 + 2p)/16)·blockStride +
 * t·16 + (c0 + 2p) % 16 (the f32 V layout [xi][input block][tile][16], converted); channel
 * pairs p < pairs of the chunk starting at channel c0 (a multiple of 16); P's points pStride
 * words apart. accumulate = 0
 * starts from zero. 8 tiles × 2 blocks of accumulators, one vdpbf16ps per 2 channels. */
void vggbf16_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                               const uint32_t *p, size_t pStride, size_t tiles, float *m, size_t mStride, int accumulate,
                               size_t points);

/* The fc layers on bf16-weight models. x[j·pairs + q] holds the bf16 of tap 2q (low half) and
 * 2q + 1 (high half; 0 past the last tap) of output pixel j: input[pixelInput[j] + offsets[t]]. */
void vggbf16_im2col(const float *input, const int64_t *offsets, size_t taps, const int64_t *pixelInput,
                    size_t pixels, uint32_t *x);

/* Taps [2·q0, 2·q1) of one output block's weights (bf16 [taps][16], the .vgg OBLOCK16 layout)
 * as 32-bit pairs p[q − q0][16] (tap 2q low, 2q + 1 high; 0 past the last of `taps`). */
void vggbf16_pack_taps(const uint16_t *w, size_t taps, size_t q0, size_t q1, uint32_t *p);

/* Output blocks 0 and 1 (p0/p1: vggbf16_pack_taps of tap pairs q0 … q1) of every pixel j, 8 at
 * a time: out·[pixelOutput[j] …] = (q0 == 0 ? bias· : out·[…]) + Σ_q dot(x pair q of j, p·[q]),
 * then ReLU when `relu`. out1 NULL: block 1 is not stored. */
void vggbf16_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                    const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                    const float *bias1, int relu);

/* vggbf16_gather for a single pixel over all taps, reading the weights (bf16 [taps][16] of
 * blocks 0 and 1) directly: memory-bound, no packing pass. Same sums as vggbf16_gather. */
void vggbf16_gather_one(const uint32_t *x, size_t taps, const uint16_t *w0, const uint16_t *w1, float *out0,
                        float *out1, const float *bias0, const float *bias1, int relu);

/* vggbf16_gather_one over the non-zero tap pairs only: pairs[k] (ascending, count of them) are
 * the q with x[q] != 0. A zero pair adds nothing, so the sums are vggbf16_gather_one's (but
 * for a denormal or zero running sum, which the dense loop would flush or re-sign), and its
 * weights' lines are never read. */
void vggbf16_gather_one_sparse(const uint32_t *x, const uint32_t *pairs, size_t count, size_t taps, const uint16_t *w0,
                               const uint16_t *w1, float *out0, float *out1, const float *bias0, const float *bias1,
                               int relu);

#endif
