/* AMX tile kernels: see include/vgg_amx.h. */
#include "vgg_amx.h"
#include "vgg_bf16.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16")))
#define CONVERT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Linux's arch_prctl codes for dynamically enabled state (asm/prctl.h) and the tile data state. */
enum { ARCH_REQ_XCOMP_PERM_CODE = 0x1023, XFEATURE_XTILEDATA_BIT = 18 };

static int amx_granted;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void request_amx(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!vggbf16_supported()) return;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return;
    if (!(edx & (1u << 24)) || !(edx & (1u << 22))) return;
    /* OSXSAVE (CPUID.1:ECX bit 27) before reading XCR0. */
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return;
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x60000u) != 0x60000u) return;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_CODE, XFEATURE_XTILEDATA_BIT) != 0) return;
    amx_granted = 1;
}

int vggamx_available(void) {
    pthread_once(&amx_once, request_amx);
    return amx_granted;
}

CONVERT_TARGET void vggamx_interleave_inputs(const float *v, size_t vStride, size_t groupTiles, size_t inBlocks, size_t xi0,
                                             size_t xi1, uint16_t *out) {
    for (size_t xi = xi0; xi < xi1; xi++) {
        for (size_t j = 0; j < inBlocks / 2; j++) {
            const float *lo = v + xi * vStride + 2 * j * groupTiles * 16, *hi = lo + groupTiles * 16;
            uint16_t *row = out + xi * vStride + j * groupTiles * 32;
            for (size_t t = 0; t < groupTiles; t++) {
                _mm256_storeu_si256((__m256i *)(row + t * 32), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(lo + t * 16)));
                _mm256_storeu_si256((__m256i *)(row + t * 32 + 16), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(hi + t * 16)));
            }
        }
    }
}

/* Tile register use: 0–3 sums (row group r, output block k at 2r + k), 4–5 inputs of row groups
 * 0 and 1, 6–7 weights of output blocks 0 and 1. Palette 1: 16 rows of at most 64 bytes. */
struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* Sums and inputs of `rows` rows (tiles), weights of 16 rows (channel pairs), all 64 bytes wide. */
AMX_TARGET static void configure(size_t rows) {
    struct tile_config c;
    __builtin_memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.colsb[i] = 64;
        c.rows[i] = (uint8_t)(i < 6 ? rows : 16);
    }
    _tile_loadconfig(&c);
}

/* The calling thread's tile configuration on entry (the caller's own thread runs work too: a
 * host that uses AMX may expect its configuration to survive a call into the library; its
 * tile data is call-clobbered), put back on exit, or the tiles released when there was none. */
AMX_TARGET static void save_tiles(struct tile_config *saved) { _tile_storeconfig(saved); }

AMX_TARGET static void restore_tiles(const struct tile_config *saved) {
    if (saved->palette != 0)
        _tile_loadconfig(saved);
    else
        _tile_release();
}

/* Row bytes: M rows hold 2 blocks of 16 f32, V rows 32 bf16, P rows 2 blocks of 16 words. */
enum { M_ROW = 128, V_ROW = 64, P_ROW = 128 };

/* The weights of channel pairs q … q + 15: in chunk q / chunkPairs, chunkStride words apart. */
static inline const uint32_t *pair_weights(const uint32_t *p, size_t q, size_t chunkPairs, size_t chunkStride) {
    return p + q / chunkPairs * chunkStride + q % chunkPairs * 32;
}

/* With at least this many channel pairs (a point's weights ≥ 16 KiB: 256 input channels and
 * more, conv3_x … conv5_x of VGG16, whose kept weights come from DRAM), the first row group's
 * steps fetch the next point's weights to L2, 2 KiB a step, so that their DRAM reads overlap
 * the tiles' work. Alternated builds, bf16 VGG16 on 2 threads: conv3_2 … conv5_3 at 224 7.24 →
 * 6.73 ms, 1 thread 11.78 → 11.19; conv4_2 … conv5_3 at 384 −3…6%. Fewer channels (conv1_2,
 * conv2_x: their workers' own weights, in L2) ran 4–6% slower with it at 384. */
enum { PREFETCH_PAIRS = 128 };

/* The 16 rows of 128 bytes at w to L2. */
static inline void prefetch_rows(const uint32_t *w) {
    for (int r = 0; r < 16; r++) {
        _mm_prefetch((const char *)(w + r * 32), _MM_HINT_T1);
        _mm_prefetch((const char *)(w + r * 32 + 16), _MM_HINT_T1);
    }
}

/* Two row groups (32 tiles from v, m) and both output blocks; with `ahead` (words), the weights
 * that far on fetched to L2 as each step loads its own. */
AMX_TARGET static void two_groups(const uint16_t *v, size_t blockStride, const uint32_t *p, size_t chunkPairs,
                                  size_t chunkStride, size_t pairs, float *m, int accumulate, ptrdiff_t ahead) {
    if (accumulate) {
        _tile_loadd(0, m, M_ROW);
        _tile_loadd(1, m + 16, M_ROW);
        _tile_loadd(2, m + 16 * 32, M_ROW);
        _tile_loadd(3, m + 16 * 32 + 16, M_ROW);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (size_t q = 0; q < pairs; q += 16) {
        const uint16_t *a = v + q / 16 * blockStride;
        const uint32_t *w = pair_weights(p, q, chunkPairs, chunkStride);
        if (ahead) prefetch_rows(w + ahead);
        _tile_loadd(4, a, V_ROW);
        _tile_loadd(5, a + 16 * 32, V_ROW);
        _tile_loadd(6, w, P_ROW);
        _tile_loadd(7, w + 16, P_ROW);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, m, M_ROW);
    _tile_stored(1, m + 16, M_ROW);
    _tile_stored(2, m + 16 * 32, M_ROW);
    _tile_stored(3, m + 16 * 32 + 16, M_ROW);
}

/* One row group (the configured rows) and both output blocks; `ahead` as in two_groups. */
AMX_TARGET static void one_group(const uint16_t *v, size_t blockStride, const uint32_t *p, size_t chunkPairs,
                                 size_t chunkStride, size_t pairs, float *m, int accumulate, ptrdiff_t ahead) {
    if (accumulate) {
        _tile_loadd(0, m, M_ROW);
        _tile_loadd(1, m + 16, M_ROW);
    } else {
        _tile_zero(0);
        _tile_zero(1);
    }
    for (size_t q = 0; q < pairs; q += 16) {
        const uint32_t *w = pair_weights(p, q, chunkPairs, chunkStride);
        if (ahead) prefetch_rows(w + ahead);
        _tile_loadd(4, v + q / 16 * blockStride, V_ROW);
        _tile_loadd(6, w, P_ROW);
        _tile_loadd(7, w + 16, P_ROW);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
    }
    _tile_stored(0, m, M_ROW);
    _tile_stored(1, m + 16, M_ROW);
}

/* Tiles 0 … tiles − 1 of one point in full 16-row tiles (as configured): two groups at a time,
 * then the rest. Where `tiles` is not a multiple of 16 the last groups end at the last tile and
 * overlap rows already done, which they compute again from the same inputs in the same order
 * to the same sums (each row's sums are its own) and store again: only from zero (accumulate =
 * 0) and with more than 16 tiles. */
AMX_TARGET static void point_tiles(const uint16_t *v, size_t blockStride, const uint32_t *p, size_t chunkPairs,
                                   size_t chunkStride, size_t pairs, float *m, size_t tiles, int accumulate, ptrdiff_t ahead) {
    size_t t = 0;
    for (; t + 32 <= tiles; t += 32, ahead = 0)
        two_groups(v + t * 32, blockStride, p, chunkPairs, chunkStride, pairs, m + t * 32, accumulate, ahead);
    size_t left = tiles - t; /* 0–31 */
    if (left > 16 && t > 0) {
        two_groups(v + (tiles - 32) * 32, blockStride, p, chunkPairs, chunkStride, pairs, m + (tiles - 32) * 32, accumulate, 0);
        return;
    }
    if (left > 16) {
        one_group(v + t * 32, blockStride, p, chunkPairs, chunkStride, pairs, m + t * 32, accumulate, ahead);
        ahead = 0;
    }
    if (left > 0)
        one_group(v + (tiles - 16) * 32, blockStride, p, chunkPairs, chunkStride, pairs, m + (tiles - 16) * 32, accumulate, ahead);
}

AMX_TARGET void vggamx_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                                         const uint32_t *p, size_t pStride, size_t chunkPairs, size_t chunkStride,
                                         size_t tiles, float *m, size_t mStride, int accumulate, size_t points) {
    /* From zero with more than 16 tiles, full-height tiles cover them all (overlapping at a
     * ragged end); otherwise they cover the whole groups of 16, and the last 1–15 tiles get tiles
     * of that many rows in a second pass over every point (nothing is read or written past
     * them). The overlap saves that pass's configuration and its second walk through every
     * point's weights (with 17–31 tiles left after 32 or more, it also reads them once less). */
    size_t full = tiles / 16 * 16, covered = !accumulate && tiles > 16 ? tiles : full;
    const uint16_t *vc = v + c0 / 32 * blockStride;
    struct tile_config saved;
    save_tiles(&saved);
    if (covered > 0) {
        configure(16);
        for (size_t xi = 0; xi < points; xi++)
            point_tiles(vc + xi * vStride, blockStride, p + xi * pStride, chunkPairs, chunkStride, pairs, m + xi * mStride,
                        covered, accumulate, xi + 1 < points && pairs >= PREFETCH_PAIRS ? (ptrdiff_t)pStride : 0);
    }
    if (covered < tiles) {
        configure(tiles - full);
        for (size_t xi = 0; xi < points; xi++)
            one_group(vc + xi * vStride + full * 32, blockStride, p + xi * pStride, chunkPairs, chunkStride, pairs,
                      m + xi * mStride + full * 32, accumulate, 0);
    }
    restore_tiles(&saved);
}

/* The next `perStep` of `lines` lines at a0 and (if not NULL) a1 to L2, from line *fetched on. */
static inline void fetch_lines(const char *a0, const char *a1, size_t lines, size_t perStep, size_t *fetched) {
    for (size_t k = 0; k < perStep && *fetched < lines; k++, (*fetched)++) {
        _mm_prefetch(a0 + *fetched * 64, _MM_HINT_T1);
        if (a1) _mm_prefetch(a1 + *fetched * 64, _MM_HINT_T1);
    }
}

AMX_TARGET void vggamx_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                              const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                              const float *bias1, int relu, const void *ahead0, const void *ahead1, size_t aheadBytes) {
    /* The next chunk's weights (aheadBytes at ahead0 and at ahead1) fetched to L2 a few lines per
     * step, spread over every step of this call, so that their DRAM reads overlap the tiles' work
     * instead of following it in the next packing. */
    size_t passes = 0;
    for (size_t j = 0, left = pixels; j < pixels; passes++, left = pixels - j) j += left >= 32 ? 32 : left > 16 ? 16 : left;
    size_t steps = passes * ((q1 - q0 + 15) / 16), lines = aheadBytes / 64;
    size_t perStep = steps > 0 ? (lines + steps - 1) / steps : 0, fetched = 0;
    /* Up to 32 pixels' sums of both blocks (two row groups of 16 when 32 are left, so that each
     * weight tile serves both), gathered from and scattered to their places in the output. */
    float sums[32 * 32] __attribute__((aligned(64)));
    size_t rows = 0;
    struct tile_config saved;
    save_tiles(&saved);
    for (size_t j0 = 0; j0 < pixels;) {
        size_t left = pixels - j0, n = left >= 32 ? 32 : left > 16 ? 16 : left;
        int two = n == 32;
        size_t tileRows = two ? 16 : n;
        if (tileRows != rows) {
            configure(tileRows);
            rows = tileRows;
        }
        for (size_t r = 0; r < n; r++) {
            size_t at = (size_t)pixelOutput[j0 + r];
            for (size_t i = 0; i < 16; i++) {
                sums[r * 32 + i] = q0 == 0 ? (bias0 ? bias0[i] : 0.0f) : out0[at + i];
                sums[r * 32 + 16 + i] = q0 == 0 ? (bias1 ? bias1[i] : 0.0f) : out1 ? out1[at + i] : 0.0f;
            }
        }
        const uint32_t *rowsOfX = x + j0 * pairs;
        _tile_loadd(0, sums, M_ROW);
        _tile_loadd(1, sums + 16, M_ROW);
        if (two) {
            _tile_loadd(2, sums + 16 * 32, M_ROW);
            _tile_loadd(3, sums + 16 * 32 + 16, M_ROW);
            for (size_t q = q0; q < q1; q += 16) {
                fetch_lines(ahead0, ahead1, lines, perStep, &fetched);
                _tile_loadd(4, rowsOfX + q, pairs * 4);
                _tile_loadd(5, rowsOfX + 16 * pairs + q, pairs * 4);
                _tile_loadd(6, p0 + (q - q0) * 16, 64);
                _tile_loadd(7, p1 + (q - q0) * 16, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(2, sums + 16 * 32, M_ROW);
            _tile_stored(3, sums + 16 * 32 + 16, M_ROW);
        } else {
            for (size_t q = q0; q < q1; q += 16) {
                fetch_lines(ahead0, ahead1, lines, perStep, &fetched);
                _tile_loadd(4, rowsOfX + q, pairs * 4);
                _tile_loadd(6, p0 + (q - q0) * 16, 64);
                _tile_loadd(7, p1 + (q - q0) * 16, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
            }
        }
        _tile_stored(0, sums, M_ROW);
        _tile_stored(1, sums + 16, M_ROW);
        for (size_t r = 0; r < n; r++) {
            size_t at = (size_t)pixelOutput[j0 + r];
            for (size_t i = 0; i < 16; i++) {
                float a = sums[r * 32 + i], b = sums[r * 32 + 16 + i];
                out0[at + i] = relu && a < 0.0f ? 0.0f : a;
                if (out1) out1[at + i] = relu && b < 0.0f ? 0.0f : b;
            }
        }
        j0 += n;
    }
    restore_tiles(&saved);
}

#else
int vggamx_available(void) { return 0; }
void vggamx_gather(const uint32_t *x, size_t pairs, size_t pixels, size_t q0, size_t q1, const uint32_t *p0,
                   const uint32_t *p1, float *out0, float *out1, const int64_t *pixelOutput, const float *bias0,
                   const float *bias1, int relu, const void *ahead0, const void *ahead1, size_t aheadBytes) {
    (void)ahead0; (void)ahead1; (void)aheadBytes;
    (void)x; (void)pairs; (void)pixels; (void)q0; (void)q1; (void)p0; (void)p1; (void)out0; (void)out1; (void)pixelOutput;
    (void)bias0; (void)bias1; (void)relu;
}
void vggamx_interleave_inputs(const float *v, size_t vStride, size_t groupTiles, size_t inBlocks, size_t xi0, size_t xi1,
                              uint16_t *out) {
    (void)v; (void)vStride; (void)groupTiles; (void)inBlocks; (void)xi0; (void)xi1; (void)out;
}
void vggamx_winograd_products(const uint16_t *v, size_t vStride, size_t blockStride, size_t c0, size_t pairs,
                              const uint32_t *p, size_t pStride, size_t chunkPairs, size_t chunkStride, size_t tiles,
                              float *m, size_t mStride, int accumulate, size_t points) {
    (void)v; (void)vStride; (void)blockStride; (void)c0; (void)pairs; (void)p; (void)pStride; (void)chunkPairs;
    (void)chunkStride; (void)tiles; (void)m;
    (void)mStride; (void)accumulate; (void)points;
}
#endif
