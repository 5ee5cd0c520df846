/* JPEG/PNG decoding and PNG encoding with libjpeg-turbo and libpng, errors caught with
 * setjmp so a damaged file gives a message instead of exit(). Sizes are checked from the
 * header before any pixel memory exists, and a decoder warning that means lost or corrupt
 * pixel data is an error. */
#include "vgg_image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* The declared size against the caller's pixel limit; a message when refused. */
static int size_refused(const char *path, const char *kind, unsigned long long w, unsigned long long h,
                        uint64_t max_pixels, char *error, size_t size) {
    if (w == 0 || h == 0) {
        snprintf(error, size, "'%s': %s declares an empty image (%llu x %llu)", path, kind, w, h);
        return 1;
    }
    if (w > VGGIMG_MAX_SIDE || h > VGGIMG_MAX_SIDE) {
        snprintf(error, size, "'%s': %s of %llu x %llu pixels: expected sides of at most %u", path, kind, w, h,
                 VGGIMG_MAX_SIDE);
        return 1;
    }
    if (w * h > max_pixels) {
        snprintf(error, size,
                 "'%s': %s of %llu x %llu = %llu pixels: expected at most %llu (raise the limit with --max-pixels)",
                 path, kind, w, h, w * h, (unsigned long long)max_pixels);
        return 1;
    }
    return 0;
}

/* ---- JPEG ------------------------------------------------------------------------------ */

struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *f = (struct jpeg_failure *)info->err;
    info->err->format_message(info, f->message);
    longjmp(f->jump, 1);
}

/* libjpeg reports damaged data (a truncated file, a bad Huffman code, a lost restart
 * marker) as a warning and fills the missing blocks with grey: for a classifier that is a
 * wrong answer, so every warning is an error except those about metadata the decoder
 * ignores and junk after complete scan data (before the end-of-image marker). Trace
 * messages (level >= 0) are dropped. */
static void jpeg_warning(j_common_ptr info, int level) {
    if (level >= 0) return;
    int code = info->err->msg_code;
    if (code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC) return;
    if (code == JWRN_EXTRANEOUS_DATA && info->err->msg_parm.i[1] == 0xD9) return;
    jpeg_fail(info);
}

static int decode_jpeg(FILE *file, const char *path, uint64_t max_pixels, uint8_t **pixels, int *width, int *height,
                       char *error, size_t size) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    uint8_t *volatile out = NULL;
    info.err = jpeg_std_error(&failure.mgr);
    failure.mgr.error_exit = jpeg_fail;
    failure.mgr.emit_message = jpeg_warning;
    if (setjmp(failure.jump)) {
        snprintf(error, size, "'%s': not a readable JPEG (%s)", path, failure.message);
        jpeg_destroy_decompress(&info);
        free(out);
        return -1;
    }
    jpeg_create_decompress(&info);
    /* libjpeg's own memory (a progressive image keeps all its coefficients: 2 bytes per
     * sample) stays within what an image of the limit needs; past it libjpeg stops with
     * "Backing store not supported" instead of growing. */
    uint64_t limited = max_pixels < (1ull << 32) ? max_pixels : (1ull << 32); /* 65536 x 65536 */
    uint64_t budget = limited * 3 * sizeof(JCOEF) + (64u << 20);
    info.mem->max_memory_to_use = budget > (uint64_t)LONG_MAX ? LONG_MAX : (long)budget;
    jpeg_stdio_src(&info, file);
    jpeg_read_header(&info, TRUE);
    /* The declared size, before jpeg_start_decompress allocates anything for it. */
    if (size_refused(path, "JPEG", info.image_width, info.image_height, max_pixels, error, size)) {
        jpeg_destroy_decompress(&info);
        return -1;
    }
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(error, size, "'%s': CMYK JPEG images are not supported (convert to RGB)", path);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    info.out_color_space = JCS_RGB; /* grayscale is expanded to RGB */
    jpeg_start_decompress(&info);
    unsigned long long n = (unsigned long long)info.output_width * info.output_height;
    if (info.output_components != 3 || n == 0 || n > max_pixels) {
        snprintf(error, size, "'%s': unsupported JPEG (%u x %u, %d components)", path, info.output_width,
                 info.output_height, info.output_components);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    out = malloc((size_t)n * 3);
    if (!out) {
        snprintf(error, size, "'%s': out of memory for %u x %u pixels", path, info.output_width, info.output_height);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = out + (size_t)info.output_scanline * info.output_width * 3;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    *pixels = out;
    return 0;
}

/* ---- PNG ------------------------------------------------------------------------------- */

struct png_failure {
    char message[256];
    /* Set while the image data is decoded: any warning then means damaged pixel data. */
    int decoding_pixels;
    /* Set when the declared size was refused (the message is written already). */
    int refused;
};

static void png_fail(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    png_longjmp(png, 1);
}

/* libpng warns (and goes on) about damaged chunks. Those that decide pixel values (the
 * header, palette, transparency and the image data, whose warnings libpng prefixes with the
 * chunk name) are errors; warnings about metadata the decoder does not use are dropped. */
static void png_warning_handler(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    static const char *const pixel_chunks[] = {"IHDR", "PLTE", "tRNS", "IDAT"};
    int fatal = f->decoding_pixels;
    for (size_t i = 0; i < sizeof pixel_chunks / sizeof *pixel_chunks; i++) {
        if (strncmp(message, pixel_chunks[i], 4) == 0) fatal = 1;
    }
    if (fatal) png_fail(png, message);
}

static int decode_png(FILE *file, const char *path, uint64_t max_pixels, uint8_t **pixels, int *width, int *height,
                      char *error, size_t size) {
    struct png_failure failure = {{0}, 0, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_warning_handler);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        snprintf(error, size, "'%s': out of memory", path);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (!failure.refused) snprintf(error, size, "'%s': not a readable PNG (%s)", path, failure.message);
        png_destroy_read_struct(&png, &info, NULL);
        free(out);
        free(rows);
        return -1;
    }
    png_set_user_limits(png, VGGIMG_MAX_SIDE, VGGIMG_MAX_SIDE);
    png_set_chunk_malloc_max(png, 16u << 20); /* ancillary chunks (text, ICC) are not decompressed past this */
    png_init_io(png, file);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    /* The declared size, before any row memory exists. */
    if (size_refused(path, "PNG", w, h, max_pixels, error, size)) {
        failure.refused = 1;
        png_longjmp(png, 1);
    }
    int alpha = (png_get_color_type(png, info) & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS);
    size_t channels = alpha ? 4 : 3;
    /* Everything to 8-bit RGB (RGBA when there is transparency): palette and gray expanded,
     * 16-bit stripped. */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * channels) png_error(png, "unexpected row layout");
    out = malloc((size_t)w * h * channels);
    rows = malloc(sizeof(png_bytep) * h);
    if (!out || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out + (size_t)y * w * channels;
    failure.decoding_pixels = 1;
    png_read_image(png, rows);
    failure.decoding_pixels = 0;
    /* Chunks after the image data are metadata: not read. */
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (alpha) {
        /* Composite over white (transparent regions look like paper, not like black), in
         * place: pixel i's 3 bytes land at or before its 4 source bytes. */
        uint8_t *p = out;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned a = p[i * 4 + 3];
            uint8_t rgb[3];
            for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)((p[i * 4 + c] * a + 255 * (255 - a) + 127) / 255);
            memcpy(p + i * 3, rgb, 3);
        }
        uint8_t *shrunk = realloc(out, (size_t)w * h * 3);
        if (shrunk) out = shrunk;
    }
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

int vggimg_decode_file(const char *path, uint64_t max_pixels, uint8_t **pixels, int *width, int *height, char *error,
                       size_t size) {
    *pixels = NULL;
    if (size > 0) error[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(error, size, "'%s': %s", path, strerror(errno));
        return -1;
    }
    unsigned char head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    rewind(f);
    int rc;
    if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) {
        rc = decode_jpeg(f, path, max_pixels, pixels, width, height, error, size);
    } else if (n == 8 && png_sig_cmp(head, 0, 8) == 0) {
        rc = decode_png(f, path, max_pixels, pixels, width, height, error, size);
    } else {
        snprintf(error, size, "'%s': not a JPEG or PNG image", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* ---- PNG output ------------------------------------------------------------------------ */

struct png_sink {
    struct png_failure failure;
    int fd;
    int error_number;
};

static void png_write_to_fd(png_structp png, png_bytep data, size_t length) {
    struct png_sink *sink = png_get_io_ptr(png);
    while (length > 0) {
        ssize_t n = write(sink->fd, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            sink->error_number = n < 0 ? errno : EIO;
            png_error(png, strerror(sink->error_number));
        }
        data += n;
        length -= (size_t)n;
    }
}

static void png_flush_nothing(png_structp png) { (void)png; }

int vggimg_write_png_fd(int fd, const char *name, const uint8_t *rgb, int width, int height, char *error, size_t size) {
    struct png_sink sink = {{{0}, 0, 0}, fd, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink.failure, png_fail, png_warning_handler);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        snprintf(error, size, "writing '%s' failed: %s", name, sink.failure.message[0] ? sink.failure.message : "out of memory");
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &sink, png_write_to_fd, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}
