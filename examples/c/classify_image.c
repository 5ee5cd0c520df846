/* classify_image MODEL.vgg IMAGE.jpg|IMAGE.png: the top 5 classes of a JPEG or PNG file, with
 * libjpeg / libpng decoding and libvgg's dense evaluation (the model's training size).
 * Build: cc classify_image.c $(pkg-config --cflags --libs vgg libpng libjpeg) -o classify_image */
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <png.h>
#include <vgg.h>

/* libjpeg reports errors through a callback: jump back instead of exiting. */
struct jpeg_failure { struct jpeg_error_mgr base; jmp_buf jump; };
static void jpeg_fail(j_common_ptr info) { longjmp(((struct jpeg_failure *)info->err)->jump, 1); }
/* A warning (truncated or corrupt data) is an error too: the missing rows would be grey. */
static void jpeg_warn(j_common_ptr info, int level) { if (level < 0) jpeg_fail(info); }

static unsigned char *read_jpeg(FILE *f, int *width, int *height) {
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    unsigned char *volatile pixels = NULL;
    info.err = jpeg_std_error(&failure.base);
    failure.base.error_exit = jpeg_fail;
    failure.base.emit_message = jpeg_warn;
    if (setjmp(failure.jump)) { jpeg_destroy_decompress(&info); free(pixels); return NULL; }
    jpeg_create_decompress(&info);
    jpeg_stdio_src(&info, f);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = JCS_RGB;
    if (info.image_width > 16384 || info.image_height > 16384) jpeg_fail((j_common_ptr)&info);
    jpeg_start_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    pixels = malloc((size_t)*width * (size_t)*height * 3);
    if (!pixels) jpeg_fail((j_common_ptr)&info);
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = pixels + (size_t)info.output_scanline * (size_t)*width * 3;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return pixels;
}

static unsigned char *read_png(FILE *f, int *width, int *height) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&image, f)) return NULL;
    if (image.width > 16384 || image.height > 16384) { png_image_free(&image); return NULL; }
    image.format = PNG_FORMAT_RGB; /* alpha is composited over the background colour (black) */
    unsigned char *pixels = malloc(PNG_IMAGE_SIZE(image));
    if (!pixels || !png_image_finish_read(&image, NULL, pixels, 0, NULL)) { free(pixels); png_image_free(&image); return NULL; }
    *width = (int)image.width;
    *height = (int)image.height;
    return pixels;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: classify_image MODEL.vgg IMAGE\n"); return 64; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    unsigned char magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    rewind(f);
    int width = 0, height = 0;
    unsigned char *pixels = got == 8 && png_sig_cmp(magic, 0, 8) == 0 ? read_png(f, &width, &height)
                                                                     : read_jpeg(f, &width, &height);
    fclose(f);
    if (!pixels) { fprintf(stderr, "%s: not a readable JPEG or PNG image\n", argv[2]); return 1; }

    vgg_model *model = NULL;
    vgg_session *session = NULL;
    int64_t classes = 0;
    int status = 1;
    if (vgg_model_open(argv[1], 0, &model) != VGG_OK || vgg_session_create(model, &session) != VGG_OK ||
        vgg_model_get_info(model, VGG_INFO_CLASS_COUNT, &classes) != VGG_OK) {
        fprintf(stderr, "%s\n", vgg_last_error());
        goto done;
    }
    int32_t top = classes < 5 ? (int32_t)classes : 5, best[5];
    float probability[5];
    if (top < 1 || vgg_session_classify(session, pixels, width, height, (int64_t)width * 3, VGG_PIXELS_RGB,
                                        NULL, 0, 0, top, best, probability) != VGG_OK) {
        fprintf(stderr, "%s\n", top < 1 ? "the model has no classifier" : vgg_last_error());
        goto done;
    }
    printf("%s (%dx%d)\n", argv[2], width, height);
    for (int32_t i = 0; i < top; i++) {
        const char *label = vgg_model_label(model, best[i]);
        if (label) printf("  %d. %.4f  %s\n", i + 1, probability[i], label);
        else printf("  %d. %.4f  class %d\n", i + 1, probability[i], best[i]);
    }
    status = 0;
done:
    free(pixels);
    vgg_session_free(session);
    vgg_model_close(model);
    return status;
}
