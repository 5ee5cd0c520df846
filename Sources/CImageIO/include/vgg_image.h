/* Image files for the vgg command-line tool: JPEG (libjpeg-turbo) and PNG (libpng) to 8-bit
 * RGB, and RGB to PNG. The C libraries report errors with longjmp, which Swift cannot catch,
 * so these wrappers do. Internal to the CLI: not part of libvgg. */
#ifndef VGG_IMAGE_H
#define VGG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Decodes a JPEG or PNG file (told apart by content) into interleaved 8-bit RGB, rows packed
 * (stride = 3 * width). Grayscale is expanded, 16-bit reduced, alpha composited over white.
 * On success returns 0 and sets *pixels (free with free()), *width, *height; on failure
 * returns -1 and writes a message into error[error_size]. */
int vggimg_decode_file(const char *path, uint8_t **pixels, int *width, int *height, char *error, size_t error_size);

/* Writes interleaved 8-bit RGB as a PNG file. 0 on success, -1 with a message otherwise. */
int vggimg_write_png(const char *path, const uint8_t *rgb, int width, int height, char *error, size_t error_size);

#endif
