/* JPEG/PNG decoding and PNG encoding with libjpeg-turbo and libpng, errors caught with
 * setjmp so a damaged file gives a message instead of exit(). */
#include "vgg_image.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* Largest accepted image: 2^28 pixels (16384 x 16384), far beyond what VGG needs. */
#define MAX_PIXELS (1ull << 28)

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

static void jpeg_quiet(j_common_ptr info, int level) { (void)info; (void)level; }

static int decode_jpeg(FILE *file, const char *path, uint8_t **pixels, int *width, int *height, char *error, size_t size) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    uint8_t *volatile out = NULL;
    info.err = jpeg_std_error(&failure.mgr);
    failure.mgr.error_exit = jpeg_fail;
    failure.mgr.emit_message = jpeg_quiet;
    if (setjmp(failure.jump)) {
        snprintf(error, size, "'%s': not a readable JPEG (%s)", path, failure.message);
        jpeg_destroy_decompress(&info);
        free(out);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_stdio_src(&info, file);
    jpeg_read_header(&info, TRUE);
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(error, size, "'%s': CMYK JPEG images are not supported (convert to RGB)", path);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    info.out_color_space = JCS_RGB; /* grayscale is expanded to RGB */
    jpeg_start_decompress(&info);
    unsigned long long n = (unsigned long long)info.output_width * info.output_height;
    if (info.output_components != 3 || n == 0 || n > MAX_PIXELS) {
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
};

static void png_fail(png_structp png, png_const_charp message) {
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp message) { (void)png; (void)message; }

static int decode_png(FILE *file, const char *path, uint8_t **pixels, int *width, int *height, char *error, size_t size) {
    struct png_failure failure = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile rgba = NULL;
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        snprintf(error, size, "'%s': out of memory", path);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        snprintf(error, size, "'%s': not a readable PNG (%s)", path, failure.message);
        png_destroy_read_struct(&png, &info, NULL);
        free(rgba);
        free(out);
        free(rows);
        return -1;
    }
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_init_io(png, file);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((unsigned long long)w * h > MAX_PIXELS) png_error(png, "image too large");
    /* Everything to 8-bit RGBA: palette and gray expanded, 16-bit stripped, opaque gets alpha. */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) png_error(png, "unexpected row layout");
    rgba = malloc((size_t)w * h * 4);
    out = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!rgba || !out || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = rgba + (size_t)y * w * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    /* Composite over white: transparent regions look like paper, not like black. */
    for (size_t i = 0; i < (size_t)w * h; i++) {
        unsigned a = rgba[i * 4 + 3];
        for (int c = 0; c < 3; c++) out[i * 3 + c] = (uint8_t)((rgba[i * 4 + c] * a + 255 * (255 - a) + 127) / 255);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(rgba);
    free(rows);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

int vggimg_decode_file(const char *path, uint8_t **pixels, int *width, int *height, char *error, size_t size) {
    *pixels = NULL;
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
        rc = decode_jpeg(f, path, pixels, width, height, error, size);
    } else if (n == 8 && png_sig_cmp(head, 0, 8) == 0) {
        rc = decode_png(f, path, pixels, width, height, error, size);
    } else {
        snprintf(error, size, "'%s': not a JPEG or PNG image", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

int vggimg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *error, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(error, size, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    struct png_failure failure = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        snprintf(error, size, "writing '%s' failed: %s", path, failure.message[0] ? failure.message : "out of memory");
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(path);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) {
        snprintf(error, size, "writing '%s' failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
