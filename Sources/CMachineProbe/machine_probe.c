/* Measured peaks for `vgg bench --layers`: see include/machine_probe.h. */
#include "machine_probe.h"
#include "vgg_amx.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A crew of threads that run passes of work together: each pass starts on every thread at once
 * (a condition variable, not a spin: the main thread must not take a core the crew needs) and
 * ends when the last thread is done. A thread that cannot be started cancels the run. */
struct crew {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int phase;   /* pass + 1 the threads may run; -1: cancelled */
    int arrived; /* threads that reached the end of the current phase (before phase 1: started) */
    int threads, passes;
    /* Work of thread `index` in pass `pass`: the FLOP or bytes it did (0: could not run). */
    double (*work)(void *context, int index, int pass);
    void *context;
    double seconds[3][256], amount[3][256];
};

struct crew_member {
    struct crew *crew;
    int index;
};

static void crew_arrive(struct crew *c) {
    pthread_mutex_lock(&c->lock);
    c->arrived++;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void *crew_member_main(void *arg) {
    struct crew_member *member = arg;
    struct crew *c = member->crew;
    crew_arrive(c);
    for (int pass = 0; pass < c->passes; pass++) {
        pthread_mutex_lock(&c->lock);
        while (c->phase >= 0 && c->phase < pass + 1) pthread_cond_wait(&c->changed, &c->lock);
        int phase = c->phase;
        pthread_mutex_unlock(&c->lock);
        if (phase < 0) return NULL;
        double t0 = now_seconds();
        c->amount[pass][member->index] = c->work(c->context, member->index, pass);
        c->seconds[pass][member->index] = now_seconds() - t0;
        crew_arrive(c);
    }
    return NULL;
}

static void crew_await_all(struct crew *c) {
    pthread_mutex_lock(&c->lock);
    while (c->arrived < c->threads) pthread_cond_wait(&c->changed, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static void crew_set_phase(struct crew *c, int phase) {
    pthread_mutex_lock(&c->lock);
    c->arrived = 0;
    c->phase = phase;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* Runs `passes` (≤ 3) passes of `work` on `threads` (≤ 256) threads: the best pass's rate, the
 * amount of all threads over the slowest thread's seconds, in units of 1e9 per second; 0 if a
 * thread could not start or the work could not run. */
static double crew_run(int threads, int passes, double (*work)(void *, int, int), void *context) {
    if (threads < 1 || threads > 256 || passes < 1 || passes > 3) return 0;
    struct crew *c = calloc(1, sizeof *c);
    struct crew_member *members = calloc((size_t)threads, sizeof *members);
    pthread_t *ids = calloc((size_t)threads, sizeof *ids);
    double best = 0;
    if (c && members && ids) {
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->changed, NULL);
        c->threads = threads;
        c->passes = passes;
        c->work = work;
        c->context = context;
        int started = 0;
        for (; started < threads; started++) {
            members[started] = (struct crew_member){c, started};
            if (pthread_create(&ids[started], NULL, crew_member_main, &members[started]) != 0) break;
        }
        if (started == threads) {
            crew_await_all(c);
            for (int pass = 0; pass < passes; pass++) {
                crew_set_phase(c, pass + 1);
                crew_await_all(c);
            }
            int ran = 1;
            for (int pass = 0; pass < passes; pass++) {
                double amount = 0, slowest = 0;
                for (int i = 0; i < threads; i++) {
                    if (c->amount[pass][i] <= 0) ran = 0;
                    amount += c->amount[pass][i];
                    if (c->seconds[pass][i] > slowest) slowest = c->seconds[pass][i];
                }
                if (slowest > 0 && amount / slowest / 1e9 > best) best = amount / slowest / 1e9;
            }
            if (!ran) best = 0;
        } else {
            crew_set_phase(c, -1);
        }
        for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
        pthread_cond_destroy(&c->changed);
        pthread_mutex_destroy(&c->lock);
    }
    free(ids);
    free(members);
    free(c);
    return best;
}

/* A compute kernel on every thread, three passes: GFLOP/s per thread. */
static double probe(int threads, double (*kernel)(void *, int, int)) {
    return threads >= 1 ? crew_run(threads, 3, kernel, NULL) / threads : 0;
}

/* Each thread's last sum, so that the compiler keeps the kernels' arithmetic (a slot per thread:
 * the crew's threads store at the same time). */
static volatile float probe_sinks[256];

#if defined(__x86_64__)
#include <immintrin.h>

enum { FMA_ITERATIONS = 1 << 24, ACCUMULATORS = 12 }; /* ~30 ms a pass at AVX-512 speed */

__attribute__((target("avx512f"))) static double fma512(void *context, int index, int pass) {
    (void)context, (void)pass;
    __m512 a[ACCUMULATORS], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    __m512 s = a[0];
    for (int k = 1; k < ACCUMULATORS; k++) s = _mm512_add_ps(s, a[k]);
    probe_sinks[index] = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * ACCUMULATORS * FMA_ITERATIONS;
}

__attribute__((target("avx2,fma"))) static double fma256(void *context, int index, int pass) {
    (void)context, (void)pass;
    __m256 a[ACCUMULATORS], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    __m256 s = a[0];
    for (int k = 1; k < ACCUMULATORS; k++) s = _mm256_add_ps(s, a[k]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    probe_sinks[index] = lanes[0] + lanes[7];
    return 2.0 * 8 * ACCUMULATORS * FMA_ITERATIONS;
}

static double mul_add128(void *context, int index, int pass) {
    (void)context, (void)pass;
    __m128 a[ACCUMULATORS], m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
    for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm_add_ps(_mm_mul_ps(a[k], m), c);
    __m128 s = a[0];
    for (int k = 1; k < ACCUMULATORS; k++) s = _mm_add_ps(s, a[k]);
    probe_sinks[index] = _mm_cvtss_f32(s);
    return 2.0 * 4 * ACCUMULATORS * FMA_ITERATIONS;
}

double machineprobe_fma_gflops(int threads, int vectorBits) {
    if (vectorBits >= 512 && __builtin_cpu_supports("avx512f")) return probe(threads, fma512);
    if (vectorBits >= 256 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return probe(threads, fma256);
    return probe(threads, mul_add128);
}

__attribute__((target("avx512f,avx512bf16"))) static double dot_bf16(void *context, int index, int pass) {
    (void)context, (void)pass;
    __m512 a[ACCUMULATORS];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
    for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < FMA_ITERATIONS; i++)
        for (int k = 0; k < ACCUMULATORS; k++) a[k] = _mm512_dpbf16_ps(a[k], x, y);
    __m512 s = a[0];
    for (int k = 1; k < ACCUMULATORS; k++) s = _mm512_add_ps(s, a[k]);
    probe_sinks[index] = _mm512_reduce_add_ps(s);
    return 2.0 * 32 * ACCUMULATORS * FMA_ITERATIONS;
}

double machineprobe_bf16_dot_gflops(int threads) {
    if (!__builtin_cpu_supports("avx512bf16")) return 0;
    return probe(threads, dot_bf16);
}

#if defined(__linux__)
enum { AMX_ITERATIONS = 1 << 20 }; /* ~20 ms a pass */

struct amx_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* Four sums (tiles 0–3) from two input and two weight tiles (4–7), all 16 rows of 64 bytes. */
__attribute__((target("amx-tile,amx-bf16"))) static double amx_tiles(void *context, int index, int pass) {
    (void)context, (void)pass;
    /* bf16 ones (0x3f80), not zeros: the tiles must not meet a case the hardware might shortcut. */
    uint16_t operands[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) operands[i] = 0x3f80;
    struct amx_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.colsb[i] = 64;
        c.rows[i] = 16;
    }
    _tile_loadconfig(&c);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, operands, 64);
    _tile_loadd(5, operands, 64);
    _tile_loadd(6, operands, 64);
    _tile_loadd(7, operands, 64);
    for (long i = 0; i < AMX_ITERATIONS; i++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float sums[16 * 16] __attribute__((aligned(64)));
    _tile_stored(0, sums, 64);
    _tile_release();
    probe_sinks[index] = sums[0];
    return 2.0 * 16 * 16 * 32 * 4 * AMX_ITERATIONS;
}

double machineprobe_amx_gflops(int threads) {
    if (!vggamx_available()) return 0;
    return probe(threads, amx_tiles);
}
#else
double machineprobe_amx_gflops(int threads) { (void)threads; return 0; }
#endif

#else
static double mul_add_scalar(void *context, int index, int pass) {
    (void)context, (void)pass;
    float a[8], m = 0.999999f, c = 1e-7f;
    for (int k = 0; k < 8; k++) a[k] = (float)k;
    for (long i = 0; i < (1 << 22); i++)
        for (int k = 0; k < 8; k++) a[k] = a[k] * m + c;
    probe_sinks[index] = a[0] + a[7];
    return 2.0 * 8 * (1 << 22);
}
double machineprobe_fma_gflops(int threads, int vectorBits) { (void)vectorBits; return probe(threads, mul_add_scalar); }
double machineprobe_bf16_dot_gflops(int threads) { (void)threads; return 0; }
double machineprobe_amx_gflops(int threads) { (void)threads; return 0; }
#endif

/* Memory reads: each thread writes its share once, before the passes (so that its pages are
 * present), then every pass reads it; the fastest pass counts. */
struct read_context {
    unsigned char *buffer;
    size_t share;
};

static double read_share(void *context, int index, int pass) {
    (void)pass;
    struct read_context *c = context;
    const uint64_t *words = (const uint64_t *)(c->buffer + (size_t)index * c->share);
    uint64_t x = 0;
    for (size_t i = 0; i + 8 <= c->share / 8; i += 8)
        x ^= words[i] ^ words[i + 1] ^ words[i + 2] ^ words[i + 3] ^ words[i + 4] ^ words[i + 5] ^ words[i + 6] ^ words[i + 7];
    probe_sinks[index] = (float)(x & 0xff);
    return (double)c->share;
}

static double write_share(void *context, int index, int pass) {
    (void)pass;
    struct read_context *c = context;
    memset(c->buffer + (size_t)index * c->share, index + 1, c->share);
    return (double)c->share;
}

double machineprobe_read_gbps(int threads, size_t bytes) {
    if (threads < 1 || threads > 256 || bytes < (size_t)threads * 4096) return 0;
    struct read_context c = {NULL, bytes / (size_t)threads / 64 * 64};
    c.buffer = aligned_alloc(64, c.share * (size_t)threads);
    if (!c.buffer) return 0;
    /* Written by the thread that will read it: on a NUMA machine its pages are then local. The
     * crew's threads are new for each run, so the kernel may place the readers elsewhere: good
     * enough for a 2-socket estimate, exact on one socket. */
    double best = crew_run(threads, 1, write_share, &c) > 0 ? crew_run(threads, 3, read_share, &c) : 0;
    free(c.buffer);
    return best;
}
