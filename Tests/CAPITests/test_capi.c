/* Exercises every function of vgg.h from C, with valid and invalid arguments, through the
 * installed header and library (built with pkg-config like a user's program).
 * Usage: test_capi [MODEL.vgg [BF16_MODEL.vgg]]   (the model enables the tests that need a real
 * file; a bf16 model whose 3×3 layers have 32 input channels, the AMX tile tests) */
#define _DEFAULT_SOURCE 1 /* syscall() under -std=c11 */
#include <vgg.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* The memory tests limit the address space, which sanitizers (whose shadow memory reserves
 * terabytes of it) do not survive: they run in the plain build only. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static int passed = 0, failed = 0;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        } else {                                                              \
            failed++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, " (last error: %s)\n", vgg_last_error());         \
        }                                                                     \
    } while (0)

#define CHECK_STATUS(expr, expected)                                                     \
    do {                                                                                 \
        int32_t s_ = (expr);                                                             \
        CHECK(s_ == (expected), "%s returned %d (%s), expected %d", #expr, (int)s_,      \
              vgg_status_string(s_), (int)(expected));                                   \
    } while (0)

static void test_library(void) {
    CHECK(strcmp(vgg_version(), VGG_VERSION_STRING) == 0, "version '%s' vs header '%s'", vgg_version(), VGG_VERSION_STRING);
    CHECK(vgg_version_number() == VGG_VERSION_NUMBER, "version number %u", vgg_version_number());
    CHECK(strcmp(vgg_status_string(VGG_OK), "success") == 0, "status string of OK");
    for (int32_t s = VGG_OK; s <= VGG_ERROR_INTERNAL; s++) {
        const char *text = vgg_status_string(s);
        CHECK(text != NULL && text[0] != '\0' && strcmp(text, "unknown status code") != 0, "status %d has a text", s);
    }
    CHECK(strcmp(vgg_status_string(-1), "unknown status code") == 0, "negative status");
    CHECK(strcmp(vgg_status_string(12345), "unknown status code") == 0, "large status");
    CHECK(vgg_last_error() != NULL, "last error is never NULL");
}

static void test_model_errors(void) {
    vgg_model *model = (vgg_model *)0x1;
    CHECK_STATUS(vgg_model_open(NULL, 0, &model), VGG_ERROR_INVALID_ARGUMENT);
    CHECK(model == NULL, "out_model cleared on failure");
    CHECK(strstr(vgg_last_error(), "path is NULL") != NULL, "message names the argument: %s", vgg_last_error());
    CHECK_STATUS(vgg_model_open("x.vgg", 0, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_open("/nonexistent/dir/model.vgg", 0, &model), VGG_ERROR_NOT_FOUND);
    CHECK(strstr(vgg_last_error(), "/nonexistent/dir/model.vgg") != NULL, "message names the path: %s", vgg_last_error());
    CHECK_STATUS(vgg_model_open("/", 0, &model), VGG_ERROR_IO);
    CHECK_STATUS(vgg_model_open("/dev/null", 0, &model), VGG_ERROR_IO);
    CHECK_STATUS(vgg_model_open("x.vgg", 0x80, &model), VGG_ERROR_INVALID_ARGUMENT);

    /* A file that is not a .vgg file. */
    FILE *f = fopen("not_a_model.vgg", "wb");
    CHECK(f != NULL, "create temp file");
    if (f) {
        for (int i = 0; i < 1000; i++) fputc('x', f);
        fclose(f);
        CHECK_STATUS(vgg_model_open("not_a_model.vgg", 0, &model), VGG_ERROR_FORMAT);
        CHECK(strstr(vgg_last_error(), "magic") != NULL, "message names the magic: %s", vgg_last_error());
        remove("not_a_model.vgg");
    }
    f = fopen("short.vgg", "wb");
    if (f) {
        fputs("\x89VGG", f);
        fclose(f);
        CHECK_STATUS(vgg_model_open("short.vgg", 0, &model), VGG_ERROR_FORMAT);
        remove("short.vgg");
    }

    /* From memory. */
    static _Alignas(64) unsigned char junk[4096];
    memset(junk, 0xAB, sizeof junk);
    /* Tensors are read in place with 64-byte vector loads: misaligned memory is refused. */
    CHECK_STATUS(vgg_model_open_memory(junk + 8, sizeof junk - 8, 0, &model), VGG_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vgg_last_error(), "aligned") != NULL, "alignment named: %s", vgg_last_error());
    CHECK_STATUS(vgg_model_open_memory(NULL, 100, 0, &model), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_open_memory(junk, sizeof junk, 0, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_open_memory(junk, 10, 0, &model), VGG_ERROR_FORMAT);
    CHECK_STATUS(vgg_model_open_memory(junk, sizeof junk, 0, &model), VGG_ERROR_FORMAT);
    CHECK_STATUS(vgg_model_open_memory(junk, sizeof junk, 0xFFFFFFFFu, &model), VGG_ERROR_INVALID_ARGUMENT);
    CHECK(model == NULL, "out_model cleared");

    vgg_model_close(NULL);
}

static void test_session_errors(void) {
    vgg_session *session = (vgg_session *)0x1;
    CHECK_STATUS(vgg_session_create(NULL, &session), VGG_ERROR_INVALID_ARGUMENT);
    CHECK(session == NULL, "out_session cleared on failure");
    CHECK_STATUS(vgg_session_create(NULL, NULL), VGG_ERROR_INVALID_ARGUMENT);
    vgg_session_free(NULL);
}

/* Deterministic pseudo-random input in [-50, 50). */
static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) % 10000) / 100.0f - 50.0f;
    }
}

static void test_queries(vgg_model *model) {
    int64_t v = -1;
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_LAYER_COUNT, &v), VGG_OK);
    CHECK(v == 10, "layer count %lld", (long long)v);
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_CLASS_COUNT, &v), VGG_OK);
    CHECK(v == 10, "class count %lld", (long long)v);
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_INPUT_HEIGHT, &v), VGG_OK);
    CHECK(v == 32, "input height %lld", (long long)v);
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_MIN_INPUT_SIZE, &v), VGG_OK);
    CHECK(v == 25, "minimum input %lld", (long long)v); /* ceil pooling: 25 → 13 → 7 → 4 */
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_WEIGHT_DTYPE, &v), VGG_OK);
    CHECK(v == 1, "dtype %lld", (long long)v);
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_FORMAT_VERSION, &v), VGG_OK);
    CHECK(v == 2, "format version %lld", (long long)v);
    for (int32_t key = 1; key <= 11; key++) CHECK_STATUS(vgg_model_get_info(model, key, &v), VGG_OK);
    CHECK_STATUS(vgg_model_get_info(model, 0, &v), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_get_info(model, 13, &v), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_get_info(NULL, 1, &v), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_get_info(model, 1, NULL), VGG_ERROR_INVALID_ARGUMENT);

    float mean[3], scale[3];
    CHECK_STATUS(vgg_model_get_preprocessing(model, mean, scale), VGG_OK);
    CHECK(fabsf(mean[0] - 103.939f) < 1e-4f && scale[2] == 1.0f, "preprocessing %f %f", mean[0], scale[2]);
    CHECK_STATUS(vgg_model_get_preprocessing(model, NULL, scale), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_get_preprocessing(NULL, mean, scale), VGG_ERROR_INVALID_ARGUMENT);

    CHECK(vgg_model_name(model) && strcmp(vgg_model_name(model), "tiny_vgg") == 0, "name");
    CHECK(vgg_model_name(NULL) == NULL, "name of NULL");
    CHECK(vgg_model_layer_name(model, 0) && strcmp(vgg_model_layer_name(model, 0), "conv1_1") == 0, "layer 0");
    CHECK(vgg_model_layer_name(model, 10) == NULL, "layer out of range");
    CHECK(vgg_model_layer_name(model, -1) == NULL, "negative layer");
    CHECK(vgg_model_layer_name(NULL, 0) == NULL, "layer of NULL");
    CHECK(vgg_model_label(model, 0) == NULL, "no labels");
    CHECK(vgg_model_label(NULL, 0) == NULL, "label of NULL");

    int32_t index = -1;
    CHECK_STATUS(vgg_model_layer_index(model, "block2_conv2", &index), VGG_OK);
    CHECK(index == 3, "alias index %d", index);
    CHECK_STATUS(vgg_model_layer_index(model, "relu2_2", &index), VGG_OK);
    CHECK(index == 3, "relu index %d", index);
    CHECK_STATUS(vgg_model_layer_index(model, "nope", &index), VGG_ERROR_NOT_FOUND);
    CHECK_STATUS(vgg_model_layer_index(model, NULL, &index), VGG_ERROR_INVALID_ARGUMENT);

    size_t length = 0;
    CHECK_STATUS(vgg_model_describe(model, NULL, 0, &length), VGG_OK);
    CHECK(length > 100, "describe length %zu", length);
    char small[8];
    CHECK_STATUS(vgg_model_describe(model, small, sizeof small, &length), VGG_ERROR_BUFFER_TOO_SMALL);
    char *json = malloc(length + 1);
    CHECK_STATUS(vgg_model_describe(model, json, length + 1, &length), VGG_OK);
    CHECK(json && json[0] == '{' && strlen(json) == length && strstr(json, "\"conv1_1\""), "describe text");
    free(json);
    CHECK_STATUS(vgg_model_describe(model, NULL, 10, &length), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_describe(model, NULL, 0, NULL), VGG_ERROR_INVALID_ARGUMENT);

    int64_t shape[3];
    CHECK_STATUS(vgg_model_output_shape(model, NULL, 64, 96, shape), VGG_OK);
    CHECK(shape[0] == 10 && shape[1] == 5 && shape[2] == 9, "score shape %lld %lld %lld",
          (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    CHECK_STATUS(vgg_model_output_shape(model, "pool1", 64, 96, shape), VGG_OK);
    CHECK(shape[0] == 8 && shape[1] == 32 && shape[2] == 48, "pool1 shape");
    CHECK_STATUS(vgg_model_output_shape(model, NULL, 16, 16, shape), VGG_ERROR_INPUT_TOO_SMALL);
    CHECK(strstr(vgg_last_error(), "25×25") != NULL, "minimum named: %s", vgg_last_error());
    CHECK_STATUS(vgg_model_output_shape(model, NULL, 0, 16, shape), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_output_shape(model, NULL, -5, 16, shape), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_output_shape(model, NULL, 100000, 100000, shape), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_output_shape(model, NULL, INT64_MAX, INT64_MAX, shape), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_output_shape(model, "nope", 64, 64, shape), VGG_ERROR_NOT_FOUND);
    CHECK_STATUS(vgg_model_output_shape(model, NULL, 64, 64, NULL), VGG_ERROR_INVALID_ARGUMENT);
}

static void test_runs(vgg_model *model) {
    vgg_session *s = NULL;
    CHECK_STATUS(vgg_session_create(model, &s), VGG_OK);
    if (!s) return;
    int64_t v = 0;
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_THREADS, &v), VGG_OK);
    CHECK(v == 1, "default threads %lld", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_THREADS, 2), VGG_OK);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_THREADS, 0), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_THREADS, 1000), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_FORCE_REFERENCE, 2), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, 99, 1), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_ISA, 1), VGG_OK);
    CHECK(strcmp(vgg_session_kernel_path(s), "x86-64") == 0, "baseline path");
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_ISA, &v), VGG_OK);
    CHECK(v == 1, "isa option %lld", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_ISA, 4), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_ISA, -1), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_ISA, 0), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_WINOGRAD, &v), VGG_OK);
    CHECK(v == 1, "winograd on by default");
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 2), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 5), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 6), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_WINOGRAD, &v), VGG_OK);
    CHECK(v == 6, "winograd tile 6 forced: %lld", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 4), VGG_OK);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 0), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_WINOGRAD, &v), VGG_OK);
    CHECK(v == 0, "winograd off: %lld", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_WINOGRAD, 1), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_WINOGRAD, &v), VGG_OK);
    CHECK(v == 1, "winograd per layer: %lld", (long long)v);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_BF16_ARITHMETIC, &v), VGG_OK);
    CHECK(v == 1, "bf16 arithmetic where faster by default");
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_BF16_ARITHMETIC, -1), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_BF16_ARITHMETIC, 3), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_BF16_ARITHMETIC, 2), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_BF16_ARITHMETIC, &v), VGG_OK);
    CHECK(v == 2, "bf16 arithmetic always: %lld", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_BF16_ARITHMETIC, 0), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_BF16_ARITHMETIC, &v), VGG_OK);
    CHECK(v == 0, "bf16 arithmetic off");
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_BF16_ARITHMETIC, 1), VGG_OK);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_KEPT_WORKSPACE_MIB, &v), VGG_OK);
    CHECK(v == 1024, "default kept workspace %lld MiB", (long long)v);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_KEPT_WORKSPACE_MIB, -1), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_KEPT_WORKSPACE_MIB, INT64_MAX), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(s, 7, 0), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_set_option(NULL, VGG_OPTION_THREADS, 1), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_get_option(s, 99, &v), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_get_option(s, VGG_OPTION_THREADS, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_get_option(NULL, VGG_OPTION_THREADS, &v), VGG_ERROR_INVALID_ARGUMENT);
    const char *path = vgg_session_kernel_path(s);
    CHECK(path && (strcmp(path, "x86-64-v4") == 0 || strcmp(path, "x86-64-v3") == 0 || strcmp(path, "x86-64") == 0),
          "kernel path %s", path ? path : "(null)");
    CHECK(vgg_session_kernel_path(NULL) == NULL, "kernel path of NULL");

    size_t bytes = 0;
    CHECK_STATUS(vgg_session_workspace_bytes(s, 64, 64, &bytes), VGG_OK);
    CHECK(bytes > 0, "workspace %zu", bytes);
    CHECK_STATUS(vgg_session_workspace_bytes(s, 0, 64, &bytes), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_workspace_bytes(s, 64, 64, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_workspace_bytes(NULL, 64, 64, &bytes), VGG_ERROR_INVALID_ARGUMENT);
    size_t batch_bytes = 0, held = 1;
    CHECK_STATUS(vgg_session_batch_workspace_bytes(s, 1, 64, 64, &batch_bytes), VGG_OK);
    CHECK(batch_bytes == bytes, "batch of one %zu, one image %zu", batch_bytes, bytes);
    CHECK_STATUS(vgg_session_batch_workspace_bytes(s, 3, 64, 64, &batch_bytes), VGG_OK);
    CHECK(batch_bytes > bytes, "batch of three %zu, one image %zu", batch_bytes, bytes);
    CHECK_STATUS(vgg_session_batch_workspace_bytes(s, 0, 64, 64, &batch_bytes), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_batch_workspace_bytes(s, 65537, 64, 64, &batch_bytes), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_batch_workspace_bytes(s, 1, 64, 64, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_batch_workspace_bytes(NULL, 1, 64, 64, &batch_bytes), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_held_bytes(s, &held), VGG_OK);
    CHECK(held == 0, "a new session holds %zu bytes", held);
    CHECK_STATUS(vgg_session_held_bytes(s, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_held_bytes(NULL, &held), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_model_get_info(model, VGG_INFO_KEPT_WEIGHT_BYTES, &v), VGG_OK);

    enum { N = 2, H = 48, W = 40, K = 10 };
    static float input[N * 3 * H * W];
    fill(input, sizeof input / sizeof *input, 7);
    int64_t shape[3];
    vgg_model_output_shape(model, NULL, H, W, shape);
    size_t score_count = (size_t)(N * shape[0] * shape[1] * shape[2]);
    float *scores = calloc(score_count, sizeof(float));
    float *reference = calloc(score_count, sizeof(float));
    CHECK_STATUS(vgg_session_forward(s, input, N, H, W, scores, score_count), VGG_OK);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_FORCE_REFERENCE, 1), VGG_OK);
    CHECK(strcmp(vgg_session_kernel_path(s), "reference") == 0, "reference path");
    CHECK_STATUS(vgg_session_forward(s, input, N, H, W, reference, score_count), VGG_OK);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_FORCE_REFERENCE, 0), VGG_OK);
    double num = 0, den = 0;
    for (size_t i = 0; i < score_count; i++) {
        num += (scores[i] - reference[i]) * (double)(scores[i] - reference[i]);
        den += reference[i] * (double)reference[i];
    }
    CHECK(den > 0 && sqrt(num / den) < 1e-5, "fast vs reference relative L2 %g", sqrt(num / den));

    CHECK_STATUS(vgg_session_forward(s, input, N, H, W, scores, score_count - 1), VGG_ERROR_BUFFER_TOO_SMALL);
    CHECK(strstr(vgg_last_error(), "floats") != NULL, "buffer message: %s", vgg_last_error());
    CHECK_STATUS(vgg_session_forward(s, NULL, N, H, W, scores, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, N, H, W, NULL, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(NULL, input, N, H, W, scores, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, 0, H, W, scores, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, -1, H, W, scores, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, 1, 100000, 100000, scores, score_count), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, INT64_MAX, INT64_MAX, INT64_MAX, scores, SIZE_MAX), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_forward(s, input, 1, 8, 8, scores, score_count), VGG_ERROR_INPUT_TOO_SMALL);
    /* A huge but valid size the machine cannot hold: an allocation error, never a crash. */
    int32_t big = vgg_session_forward(s, input, 1, 65536, 65536, scores, SIZE_MAX);
    CHECK(big == VGG_ERROR_OUT_OF_MEMORY, "65536x65536: status %d (%s)", (int)big, vgg_last_error());

    float probs[N * K];
    CHECK_STATUS(vgg_session_probabilities(s, input, N, H, W, probs, N * K), VGG_OK);
    float total = 0;
    for (int i = 0; i < K; i++) total += probs[i];
    CHECK(fabsf(total - 1.0f) < 1e-5f, "probabilities sum %f", total);
    CHECK_STATUS(vgg_session_probabilities(s, input, N, H, W, probs, N * K - 1), VGG_ERROR_BUFFER_TOO_SMALL);
    CHECK_STATUS(vgg_session_probabilities(s, input, N, H, W, NULL, N * K), VGG_ERROR_INVALID_ARGUMENT);

    const char *names[2] = {"pool1", "fc8"};
    int64_t pool_shape[3];
    vgg_model_output_shape(model, "pool1", H, W, pool_shape);
    size_t pool_count = (size_t)(N * pool_shape[0] * pool_shape[1] * pool_shape[2]);
    float *pool = calloc(pool_count, sizeof(float));
    float *fc8 = calloc(score_count, sizeof(float));
    float *outs[2] = {pool, fc8};
    size_t caps[2] = {pool_count, score_count};
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, 2, outs, caps), VGG_OK);
    CHECK(memcmp(fc8, scores, score_count * sizeof(float)) == 0, "fc8 features equal forward scores");
    caps[0] = pool_count - 1;
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, 2, outs, caps), VGG_ERROR_BUFFER_TOO_SMALL);
    caps[0] = pool_count;
    const char *bad_names[2] = {"pool1", "nope"};
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, bad_names, 2, outs, caps), VGG_ERROR_NOT_FOUND);
    const char *null_names[2] = {"pool1", NULL};
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, null_names, 2, outs, caps), VGG_ERROR_INVALID_ARGUMENT);
    float *null_outs[2] = {pool, NULL};
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, 2, null_outs, caps), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, 0, outs, caps), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, -3, outs, caps), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, NULL, 2, outs, caps), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_features(s, input, N, H, W, names, 2, outs, NULL), VGG_ERROR_INVALID_ARGUMENT);

    enum { PW = 53, PH = 41 };
    static uint8_t pixels[PH * PW * 3];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(i * 37 % 251);
    int32_t scales[2] = {32, 40};
    int32_t classes[5];
    float class_probs[5];
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 1, 5, classes, class_probs), VGG_OK);
    CHECK(classes[0] >= 0 && classes[0] < K && class_probs[0] >= class_probs[4], "top-5 ordered");
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, NULL, 0, 0, 1, classes, class_probs), VGG_OK);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3 - 1, VGG_PIXELS_RGB, scales, 2, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, 7, scales, 2, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 0, 11, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 0, 0, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, NULL, 2, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 5, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, pixels, 0, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_classify(s, NULL, PW, PH, PW * 3, VGG_PIXELS_RGB, scales, 2, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);
    static float pre[3 * 32 * 40];
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, 32, 40, 0, pre, 3 * 32 * 40), VGG_OK);
    CHECK(pre[0] > -200.0f && pre[0] < 200.0f, "preprocessed value %f", pre[0]);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, VGG_PIXELS_BGR, 32, 40, 1, pre, 3 * 32 * 40), VGG_OK);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, 32, 40, 0, pre, 3 * 32 * 40 - 1), VGG_ERROR_BUFFER_TOO_SMALL);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, 0, 40, 0, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, 2, VGG_PIXELS_RGB, 32, 40, 0, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, 9, 32, 40, 0, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_preprocess(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, 32, 40, 3, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_preprocess(s, NULL, PW, PH, PW * 3, VGG_PIXELS_RGB, 32, 40, 0, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_preprocess(NULL, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, 32, 40, 0, pre, 3 * 32 * 40), VGG_ERROR_INVALID_ARGUMENT);
    int32_t tiny_scale[1] = {8};
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, tiny_scale, 1, 0, 5, classes, class_probs), VGG_ERROR_INPUT_TOO_SMALL);
    int32_t bad_scale[1] = {-4};
    CHECK_STATUS(vgg_session_classify(s, pixels, PW, PH, PW * 3, VGG_PIXELS_RGB, bad_scale, 1, 0, 5, classes, class_probs), VGG_ERROR_INVALID_ARGUMENT);

    free(scores);
    free(reference);
    free(pool);
    free(fc8);
    vgg_session_free(s);
}

/* 8 threads, each with its own session on one shared model that no session has run yet (so
 * they race to make the Winograd weights the model keeps for its sessions), 20 runs each over
 * mixed input sizes and thread counts: every result bit-identical to a single-threaded run on
 * another opening of the file. */
enum { SIZES = 3 };
static const int64_t sizes[SIZES][2] = {{64, 56}, {33, 47}, {80, 80}};

struct worker_args {
    vgg_model *model;
    const float *input;
    float *expected[SIZES];
    size_t count[SIZES];
    int index;
    int mismatches;
};

static void *worker(void *p) {
    struct worker_args *a = p;
    vgg_session *s = NULL;
    if (vgg_session_create(a->model, &s) != VGG_OK) { a->mismatches = -1; return NULL; }
    vgg_session_set_option(s, VGG_OPTION_THREADS, 1 + a->index % 2);
    float *out = malloc(a->count[2] * sizeof(float));
    for (int run = 0; run < 20; run++) {
        int k = (run + a->index) % SIZES;
        if (vgg_session_forward(s, a->input, 1, sizes[k][0], sizes[k][1], out, a->count[k]) != VGG_OK ||
            memcmp(out, a->expected[k], a->count[k] * sizeof(float)) != 0)
            a->mismatches++;
    }
    free(out);
    vgg_session_free(s);
    return NULL;
}

static void test_threads(vgg_model *model, const char *path) {
    static float input[3 * 80 * 80];
    fill(input, sizeof input / sizeof *input, 99);
    vgg_model *fresh = NULL;
    CHECK_STATUS(vgg_model_open(path, 0, &fresh), VGG_OK);
    if (!fresh) return;
    struct worker_args base = {fresh, input, {0}, {0}, 0, 0};
    vgg_session *s = NULL;
    vgg_session_create(model, &s);
    for (int k = 0; k < SIZES; k++) {
        int64_t shape[3];
        vgg_model_output_shape(model, NULL, sizes[k][0], sizes[k][1], shape);
        base.count[k] = (size_t)(shape[0] * shape[1] * shape[2]);
        base.expected[k] = malloc(base.count[k] * sizeof(float));
        CHECK_STATUS(vgg_session_forward(s, input, 1, sizes[k][0], sizes[k][1], base.expected[k], base.count[k]), VGG_OK);
    }
    vgg_session_free(s);
    pthread_t threads[8];
    struct worker_args args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = base;
        args[i].index = i;
        pthread_create(&threads[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].mismatches == 0, "thread %d: %d mismatching runs", i, args[i].mismatches);
    }
    for (int k = 0; k < SIZES; k++) free(base.expected[k]);
    vgg_model_close(fresh);
}


/* Virtual and resident size of this process in MiB (/proc/self/statm). */
static void memory_mib(long *virtual_mib, long *resident_mib) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) pages = resident = 0;
        fclose(f);
    }
    *virtual_mib = pages * 4096 / (1 << 20);
    *resident_mib = resident * 4096 / (1 << 20);
}

/* Peak resident size in MiB since the last reset_peak_rss() (VmHWM), or -1. */
static long peak_rss_mib(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Sizes derived from the caller's arguments are checked before anything of that size is
 * allocated, and a session gives back memory it grew for a failed or one-off large run. The
 * address space is limited to 1 GiB above what the process uses, so an attempt to allocate
 * or fill a large buffer shows as a wrong status or a grown process. */
static void test_memory(vgg_model *model) {
#ifdef UNDER_SANITIZER
    (void)model;
    printf("memory tests skipped under a sanitizer\n");
#else
    enum { TW = 10, TH = 65535 };
    uint8_t *tall = calloc((size_t)TW * TH, 3);
    float *input = malloc(sizeof(float) * 3 * 1024 * 1024);
    CHECK(tall && input, "allocate test images");
    if (!tall || !input) { free(tall); free(input); return; }
    fill(input, 3 * 1024 * 1024, 5);
    struct rlimit saved;
    getrlimit(RLIMIT_AS, &saved);
    long virtual_before, resident_before, virtual_after, resident_after;
    memory_mib(&virtual_before, &resident_before);
    struct rlimit tight = saved;
    tight.rlim_cur = ((rlim_t)virtual_before + 1024) << 20;
    if (saved.rlim_cur != RLIM_INFINITY && saved.rlim_cur < tight.rlim_cur) tight.rlim_cur = saved.rlim_cur;
    CHECK(setrlimit(RLIMIT_AS, &tight) == 0, "limit the address space");
    vgg_session *s = NULL;
    CHECK_STATUS(vgg_session_create(model, &s), VGG_OK);
    int32_t classes[1];
    float probs[1];

    /* A 10 x 65535 image resized to a smaller side of 224 would be 224 x 1468006: refused as
     * an argument, before the 3.9 GB resized image is allocated. */
    int32_t q224 = 224;
    CHECK_STATUS(vgg_session_classify(s, tall, TW, TH, TW * 3, VGG_PIXELS_RGB, &q224, 1, 0, 1, classes, probs),
                 VGG_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(vgg_last_error(), "resized") != NULL, "message names the resized size: %s", vgg_last_error());

    /* A 1 x 1 image at scale 6000: the 432 MB resized image fits the limit, the run's
     * activations (2 x 2.3 GB) do not. The run fails before the image is written, and the
     * session keeps nothing of it. */
    int reset = reset_peak_rss();
    int32_t q6000 = 6000;
    CHECK_STATUS(vgg_session_classify(s, tall, 1, 1, 3, VGG_PIXELS_RGB, &q6000, 1, 0, 1, classes, probs),
                 VGG_ERROR_OUT_OF_MEMORY);
    long peak = peak_rss_mib();
    memory_mib(&virtual_after, &resident_after);
    if (reset && peak >= 0) CHECK(peak < resident_before + 100, "peak RSS %ld MiB, %ld MiB before", peak, resident_before);
    CHECK(virtual_after < virtual_before + 64, "a failed run keeps %ld MiB", virtual_after - virtual_before);
    CHECK(resident_after < resident_before + 64, "a failed run keeps %ld MiB resident", resident_after - resident_before);

    /* A 1024 x 1024 run (about 140 MB of workspace): kept for the next run by default, given
     * back when it is past VGG_OPTION_KEPT_WORKSPACE_MIB. */
    float out[10];
    CHECK_STATUS(vgg_session_probabilities(s, input, 1, 1024, 1024, out, 10), VGG_OK);
    memory_mib(&virtual_after, &resident_after);
    CHECK(virtual_after > virtual_before + 100, "the workspace is kept by default (%ld MiB)", virtual_after - virtual_before);
    CHECK_STATUS(vgg_session_set_option(s, VGG_OPTION_KEPT_WORKSPACE_MIB, 16), VGG_OK);
    CHECK_STATUS(vgg_session_probabilities(s, input, 1, 1024, 1024, out, 10), VGG_OK);
    memory_mib(&virtual_after, &resident_after);
    CHECK(virtual_after < virtual_before + 64, "a run past the kept size gives it back (%ld MiB kept)",
          virtual_after - virtual_before);
    /* A small run stays within 16 MiB and keeps its workspace. */
    static float small[3 * 32 * 32];
    CHECK_STATUS(vgg_session_probabilities(s, small, 1, 32, 32, out, 10), VGG_OK);

    vgg_session_free(s);
    CHECK(setrlimit(RLIMIT_AS, &saved) == 0, "restore the address-space limit");
    free(tall);
    free(input);
#endif
}

static void test_with_model(const char *path) {
    vgg_model *model = NULL;
    CHECK_STATUS(vgg_model_open(path, 0, &model), VGG_OK);
    if (!model) return;
    vgg_model *verified = NULL;
    CHECK_STATUS(vgg_model_open(path, VGG_OPEN_VERIFY_CHECKSUMS, &verified), VGG_OK);
    vgg_model_close(verified);

    test_queries(model);
    test_runs(model);
    test_threads(model, path);
    test_memory(model);

    vgg_session *session = NULL;
    CHECK_STATUS(vgg_session_create(model, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_create(model, &session), VGG_OK);
    /* The session keeps the model alive after the caller closes it. */
    vgg_model_close(model);
    static float input[3 * 32 * 32];
    float scores[10];
    CHECK_STATUS(vgg_session_forward(session, input, 1, 32, 32, scores, 10), VGG_OK);
    vgg_session_free(session);

    /* The same bytes from memory. */
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *bytes = aligned_alloc(4096, ((size_t)size + 4095) / 4096 * 4096);
    CHECK(bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size, "read %s", path);
    fclose(f);
    if (!bytes) return;
    CHECK_STATUS(vgg_model_open_memory(bytes, (size_t)size, VGG_OPEN_VERIFY_CHECKSUMS, &model), VGG_OK);
    vgg_model_close(model);
    /* A truncated copy is refused. */
    CHECK_STATUS(vgg_model_open_memory(bytes, (size_t)size - 1, 0, &model), VGG_ERROR_FORMAT);
    /* A flipped byte in the header tables is caught by the metadata checksum. */
    ((unsigned char *)bytes)[300] ^= 0x01;
    int32_t s = vgg_model_open_memory(bytes, (size_t)size, 0, &model);
    CHECK(s == VGG_ERROR_CHECKSUM || s == VGG_ERROR_FORMAT, "flipped metadata byte: status %d", (int)s);
    free(bytes);
}

#if defined(__x86_64__) && defined(__linux__)
/* The tile configuration register as ldtilecfg/sttilecfg read and write it (palette 1). */
struct tile_config {
    unsigned char palette, start_row, reserved[14];
    unsigned short colsb[16];
    unsigned char rows[16];
};

__attribute__((target("amx-tile"))) static void load_tiles(const struct tile_config *c) { _tile_loadconfig(c); }
__attribute__((target("amx-tile"))) static void store_tiles(struct tile_config *c) { _tile_storeconfig(c); }
__attribute__((target("amx-tile"))) static void release_tiles(void) { _tile_release(); }

/* A host that uses AMX tiles itself keeps its tile configuration across a run that computes on
 * AMX tiles on the calling thread (1 thread): the library puts back what it found. Skipped
 * where the CPU lacks AMX or Linux does not grant the tile state. */
static void test_host_tiles(const char *path) {
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22)) ||
        syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) {
        printf("skipped: AMX tile tests (no AMX tiles here)\n");
        return;
    }
    vgg_model *model = NULL;
    CHECK_STATUS(vgg_model_open(path, 0, &model), VGG_OK);
    vgg_session *session = NULL;
    if (model) CHECK_STATUS(vgg_session_create(model, &session), VGG_OK);
    if (!session) {
        vgg_model_close(model);
        return;
    }
    CHECK_STATUS(vgg_session_set_option(session, VGG_OPTION_THREADS, 1), VGG_OK);
    struct tile_config mine, after;
    memset(&mine, 0, sizeof mine);
    mine.palette = 1;
    mine.rows[0] = 3;
    mine.colsb[0] = 12;
    mine.rows[5] = 16;
    mine.colsb[5] = 64;
    /* 64×64: the 3×3 layers of 32 input channels and the fc layers (5×5 pixels) on AMX tiles. */
    static float input[3 * 64 * 64];
    for (size_t i = 0; i < sizeof input / sizeof input[0]; i++) input[i] = (float)((i * 7919) % 255) - 127.0f;
    float scores[10 * 25];
    load_tiles(&mine);
    CHECK_STATUS(vgg_session_forward(session, input, 1, 64, 64, scores, 10 * 25), VGG_OK);
    store_tiles(&after);
    CHECK(memcmp(&mine, &after, sizeof mine) == 0, "the host's tile configuration survives a run (palette %d, tile 0 %d×%d)",
          after.palette, after.rows[0], after.colsb[0]);
    release_tiles();
    CHECK_STATUS(vgg_session_forward(session, input, 1, 64, 64, scores, 10 * 25), VGG_OK);
    store_tiles(&after);
    CHECK(after.palette == 0, "no tile configuration is left behind where the host had none (palette %d)", after.palette);
    vgg_session_free(session);
    vgg_model_close(model);
}
#else
static void test_host_tiles(const char *path) { (void)path; }
#endif

int main(int argc, char **argv) {
    test_library();
    test_model_errors();
    test_session_errors();
    if (argc > 1) test_with_model(argv[1]);
    if (argc > 2) test_host_tiles(argv[2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
