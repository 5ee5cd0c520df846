/* Exercises every function of vgg.h from C, with valid and invalid arguments, through the
 * installed header and library (built with pkg-config like a user's program).
 * Usage: test_capi [MODEL.vgg]   (the model enables the tests that need a real file) */
#include <vgg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    static unsigned char junk[4096];
    memset(junk, 0xAB, sizeof junk);
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

static void test_with_model(const char *path) {
    vgg_model *model = NULL;
    CHECK_STATUS(vgg_model_open(path, 0, &model), VGG_OK);
    if (!model) return;
    vgg_model *verified = NULL;
    CHECK_STATUS(vgg_model_open(path, VGG_OPEN_VERIFY_CHECKSUMS, &verified), VGG_OK);
    vgg_model_close(verified);

    vgg_session *session = NULL;
    CHECK_STATUS(vgg_session_create(model, NULL), VGG_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(vgg_session_create(model, &session), VGG_OK);
    /* The session keeps the model alive after the caller closes it. */
    vgg_model_close(model);
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

int main(int argc, char **argv) {
    test_library();
    test_model_errors();
    test_session_errors();
    if (argc > 1) test_with_model(argv[1]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
