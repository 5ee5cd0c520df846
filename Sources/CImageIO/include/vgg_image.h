/* Image files for the vgg command-line tool: JPEG (libjpeg-turbo) and PNG (libpng) to 8-bit
 * RGB, and RGB to PNG. The C libraries report errors with longjmp, which Swift cannot catch,
 * so these wrappers do. Internal to the CLI: not part of libvgg. */
#ifndef VGG_IMAGE_H
#define VGG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Largest image decoded unless the caller allows more: 64 Mpixel (8192 x 8192). */
#define VGGIMG_DEFAULT_MAX_PIXELS (1ull << 26)
/* Largest side either format or the engine accepts. */
#define VGGIMG_MAX_SIDE 65536u

/* Decodes a JPEG or PNG file (told apart by content) into interleaved 8-bit RGB, rows packed
 * (stride = 3 * width). Grayscale is expanded, 16-bit reduced, alpha composited over white.
 * The declared size is checked against max_pixels (and VGGIMG_MAX_SIDE per side) when the
 * header has been read, before any pixel memory is allocated; the pixels are decoded into
 * the one buffer returned. Data the decoder reports as corrupt or missing (a truncated
 * JPEG, a bad Huffman code, a damaged PNG data stream or palette) is an error, not a
 * warning: no partly grey image is returned.
 * On success returns 0 and sets *pixels (free with free()), *width, *height; on failure
 * returns -1 and writes a message into error[error_size]. */
int vggimg_decode_file(const char *path, uint64_t max_pixels, uint8_t **pixels, int *width, int *height,
                       char *error, size_t error_size);

/* Writes interleaved 8-bit RGB as a PNG to the open file descriptor fd (not closed; `name`
 * only for messages). 0 on success, -1 with a message otherwise (a failed write names the
 * errno, e.g. "File too large" or "No space left on device"). */
int vggimg_write_png_fd(int fd, const char *name, const uint8_t *rgb, int width, int height, char *error,
                        size_t error_size);

#endif
