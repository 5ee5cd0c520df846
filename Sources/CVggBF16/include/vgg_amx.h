/* AMX tile kernels (AMX-TILE + AMX-BF16, `tdpbf16ps`) for the Winograd products of bf16-weight
 * models. A tile multiply-add does 16×16×32 bf16 products (f32 sums) at a time: on an Emerald
 * Rapids core ~320 G multiply-adds/s with its operands in L1, against ~89 G of its f32 FMAs and
 * ~44 G of `vdpbf16ps`. Same sums per output as vggbf16_winograd_products up to the order of
 * the f32 additions within 32 channels. Internal: not exported from libvgg.so. */
#ifndef VGG_AMX_H
#define VGG_AMX_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this process may use AMX-BF16 tiles: the CPU has AMX-TILE and AMX-BF16 (CPUID.7.0:EDX
 * bits 24 and 22), the OS saves their state (XCR0 bits 17–18), AVX512-BF16 is there for the
 * conversions (vggbf16_supported), and Linux granted the process the tile data state
 * (arch_prctl ARCH_REQ_XCOMP_PERM; refused, e.g., where a thread's alternate signal stack is too
 * small for the larger signal frame). The request is made once, at the first call (thread-safe),
 * and lasts for the process. 0 otherwise, and on every other architecture or OS. */
int vggamx_available(void);

/* Transformed inputs V[ξ][input block of 16][tile][16] (f32; ξ vStride floats apart, blocks
 * groupTiles·16 floats apart; inBlocks even) to the tile layout [ξ][block pair][tile][32] in
 * bf16 (round to nearest even, as vggbf16_convert): channels 32j … 32j + 31 of a tile in one
 * 64-byte row, ξ vStride elements apart, block pairs groupTiles·32 apart; for ξ in xi0 ..< xi1. */
void vggamx_interleave_inputs(const float *v, size_t vStride, size_t groupTiles, size_t inBlocks, size_t xi0, size_t xi1,
                              uint16_t *out);

/* vggbf16_winograd_products on AMX tiles, V in the layout of vggamx_interleave_inputs, over
 * several chunks of P at once: for ξ < points, tiles t < tiles, output blocks k = 0, 1:
 *   m[ξ·mStride + t·32 + k·16 + lane] (+)= Σ_p dot(P pair p of ξ, block k, lane; V pair p of tile t)
 * with V pair p of tile t the bf16 of channels c0 + 2p and c0 + 2p + 1 at v + ξ·vStride +
 * ((c0 + 2p)/32)·blockStride + t·32 + (c0 + 2p) % 32, and P pair p of ξ the 32 words at
 * p + (p / chunkPairs)·chunkStride + ξ·pStride + (p % chunkPairs)·32 (block k at + k·16): the
 * chunks of vggbf16_winograd_products' P one after another (one chunk: chunkPairs ≥ pairs).
 * c0 a multiple of 32, pairs and chunkPairs multiples of 16. accumulate = 0 starts from zero.
 * The sums stay in the tiles over all pairs. Reads and writes nothing past tile `tiles` − 1;
 * from zero (accumulate = 0) a ragged end's rows may be computed and stored twice, to the same
 * sums (more than 16 tiles: the last 16-row tiles end at the last tile).
 * Configures the calling thread's tiles, and before it returns puts back the configuration it
 * found (or releases them). Only where vggamx_available() is 1. */
void vggamx_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                              const uint32_t *p, size_t pStride, size_t chunkPairs, size_t chunkStride, size_t tiles,
                              float *m, size_t mStride, int accumulate, size_t points);

/* vggbf16_gather on AMX tiles, 32 pixels at a time (two row groups of 16 sharing each weight
 * tile) while 32 are left, then 16, the last 1–15 in a tile of that many rows: same arguments
 * and results up to the order of the f32 additions within 32 taps (each pixel's sums the same
 * whatever its group); q0 and q1 multiples of 16. Meanwhile the aheadBytes at ahead0 and (if
 * not NULL) at ahead1 are fetched to L2, spread over the call's steps (the caller's next weights:
 * a hint only, never dereferenced). Only where vggamx_available() is 1. */
void vggamx_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                   const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                   const float *bias1, int relu, const void *ahead0, const void *ahead1, size_t aheadBytes);

#endif
