/*
 * vgg.h — the C API of libvgg, which runs VGG-family convolutional networks on the CPU.
 *
 * libvgg opens a .vgg file (written by `vgg-convert` from a Caffe .caffemodel or a Keras /
 * Caffe HDF5 file) with mmap and runs the network fully convolutionally at any input size.
 * This header is the whole contract: anything not declared and documented here is not API.
 *
 * CONVENTIONS
 *   - Every symbol is vgg_<object>_<verb>. Handles are opaque. Integers are fixed-width,
 *     byte counts are size_t, strings are UTF-8 and NUL-terminated.
 *   - Functions that can fail return an int32_t status: VGG_OK (0) or a vgg_status code.
 *     After a failure, vgg_last_error() returns a message for the calling thread naming what
 *     was expected and what was found. Nothing in libvgg ever aborts or exits the host
 *     process on bad input: invalid arguments and malformed files give a status.
 *   - Output handles are set to NULL on failure. Close/free functions accept NULL.
 *
 * OBJECTS AND THREADS
 *   - vgg_model: an opened, validated, immutable model. Thread-safe: any number of threads
 *     may use one model at once (through their own sessions). Processes that open the same
 *     file share its pages through the page cache. The model also holds the Winograd-
 *     transformed weights its sessions make (at most 64 MiB, made once under a lock by the
 *     first session that needs them, shared by all, freed with the model).
 *   - vgg_session: the per-run workspace of one model. NOT thread-safe: use a session from
 *     one thread at a time (one session per thread is the usual pattern). A session keeps
 *     its model alive: vgg_model_close() may be called while sessions exist; the mapping is
 *     released when the last of the model handle and its sessions is gone. A session keeps
 *     its workspace between runs; it frees it after a failed run and after a run that
 *     needed more than VGG_OPTION_KEPT_WORKSPACE_MIB (default 1 GiB), and always in
 *     vgg_session_free.
 *
 * EXAMPLE
 *   vgg_model *model = NULL;
 *   if (vgg_model_open("vgg16.vgg", 0, &model) != VGG_OK) {
 *       fprintf(stderr, "libvgg: %s\n", vgg_last_error());
 *       return 1;
 *   }
 *   vgg_session *session = NULL;
 *   if (vgg_session_create(model, &session) != VGG_OK) { ... }
 *   ... run the session ...
 *   vgg_session_free(session);
 *   vgg_model_close(model);
 *
 * VERSIONING
 *   The macros below give the version this header belongs to; vgg_version_number() gives
 *   the version of the library actually loaded. Callers may check that the major versions
 *   match. A change of behaviour gets a new symbol (_v2); signatures are never edited and
 *   status values are never renumbered or reused.
 *
 * CRASH HANDLING
 *   libvgg contains the Swift runtime, whose backtracer installs handlers for SIGSEGV,
 *   SIGILL, SIGABRT, ... when the library loads (it never replaces handlers already
 *   installed). A host with its own crash handling should set the environment variable
 *   SWIFT_BACKTRACE=enable=no before loading libvgg.
 */
#ifndef VGG_H
#define VGG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VGG_VERSION_MAJOR 0
#define VGG_VERSION_MINOR 1
#define VGG_VERSION_PATCH 0
#define VGG_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch */
#define VGG_VERSION_NUMBER (VGG_VERSION_MAJOR * 10000 + VGG_VERSION_MINOR * 100 + VGG_VERSION_PATCH)

/* Status codes. Values are pinned forever. */
typedef enum vgg_status {
    VGG_OK = 0,
    VGG_ERROR_INVALID_ARGUMENT = 1, /* a NULL pointer, a bad flag, a size out of range */
    VGG_ERROR_IO = 2,               /* a file could not be opened, read or mapped */
    VGG_ERROR_FORMAT = 3,           /* not a .vgg file, or a field out of its rules */
    VGG_ERROR_UNSUPPORTED = 4,      /* valid, but not something this version can do */
    VGG_ERROR_OUT_OF_MEMORY = 5,    /* an allocation failed */
    VGG_ERROR_BUFFER_TOO_SMALL = 6, /* a caller buffer is smaller than the size query said */
    VGG_ERROR_INPUT_TOO_SMALL = 7,  /* the input is below the model's minimum size */
    VGG_ERROR_CHECKSUM = 8,         /* a metadata or tensor checksum does not match */
    VGG_ERROR_NOT_FOUND = 9,        /* a file, layer or index that does not exist */
    VGG_ERROR_NOT_IMPLEMENTED = 10, /* reserved for features not built yet */
    VGG_ERROR_INTERNAL = 11         /* a bug in libvgg: please report it with the message */
} vgg_status;

/* Opaque handles. */
typedef struct vgg_model vgg_model;
typedef struct vgg_session vgg_session;

/* Flags of vgg_model_open and vgg_model_open_memory. */
#define VGG_OPEN_VERIFY_CHECKSUMS 1u /* check every tensor's CRC-32 while opening (reads the whole file) */

/* ---- Library ------------------------------------------------------------------------ */

/* The library's version, e.g. "0.1.0". Static storage: never free it. Thread-safe. */
const char *vgg_version(void);

/* The library's version as major*10000 + minor*100 + patch. Thread-safe. */
uint32_t vgg_version_number(void);

/* A one-line English description of a status code ("unknown status code" for values not
 * in vgg_status). Static storage: never free it. Thread-safe. */
const char *vgg_status_string(int32_t status);

/* The message of the last failed call made by the calling thread ("" if none failed yet).
 * Owned by libvgg; valid until the calling thread's next failing libvgg call or its exit.
 * Successful calls leave it unchanged. Thread-safe (each thread has its own message). */
const char *vgg_last_error(void);

/* ---- Model -------------------------------------------------------------------------- */

/* Opens and validates the .vgg file at `path` (read-only mmap; nothing is copied).
 * flags: 0 or VGG_OPEN_VERIFY_CHECKSUMS. On success *out_model receives a handle the caller
 * owns and must release with vgg_model_close(); on failure *out_model is set to NULL.
 * Errors: VGG_ERROR_INVALID_ARGUMENT (NULL path or out_model, unknown flag bits),
 * VGG_ERROR_NOT_FOUND (no such file), VGG_ERROR_IO (also for a FIFO, directory or device:
 * only regular files are opened, and the open never blocks), VGG_ERROR_FORMAT,
 * VGG_ERROR_CHECKSUM. Thread-safe.
 * The file stays mapped while the model or any of its sessions lives. Replace a model file
 * by writing a new file and renaming it over the old one (as vgg-convert does): the open
 * model keeps reading the old file. Truncating or rewriting the mapped file in place
 * (`cp new.vgg model.vgg`, `> model.vgg`) makes the next read of a vanished page raise
 * SIGBUS in the host process, which no library can catch for you. */
int32_t vgg_model_open(const char *path, uint32_t flags, vgg_model **out_model);

/* Like vgg_model_open, on `size` bytes at `data` that the caller owns. The bytes are not
 * copied: they must stay valid and unchanged until the model and all its sessions are
 * released. Tensor data is read in place: `data` must be aligned to 64 bytes (4096 is best),
 * else VGG_ERROR_INVALID_ARGUMENT. Thread-safe. */
int32_t vgg_model_open_memory(const void *data, size_t size, uint32_t flags, vgg_model **out_model);

/* Releases the caller's reference to `model` (NULL is a no-op). Sessions created from it
 * stay valid; the mapping goes when the last session is freed. Using `model` after this
 * call is undefined behaviour. Do not close a model while another thread uses it. */
void vgg_model_close(vgg_model *model);

/* Keys of vgg_model_get_info. */
#define VGG_INFO_LAYER_COUNT 1        /* number of stored layers (conv, pooling, LRN) */
#define VGG_INFO_CLASS_COUNT 2        /* classes of the last layer; 0 for a features-only model */
#define VGG_INFO_INPUT_HEIGHT 3       /* training input height (224 for ILSVRC VGG) */
#define VGG_INFO_INPUT_WIDTH 4        /* training input width */
#define VGG_INFO_PARAMETER_COUNT 5    /* weights and biases */
#define VGG_INFO_CHANNEL_ORDER 6      /* 0 = the network expects BGR, 1 = RGB */
#define VGG_INFO_MIN_INPUT_SIZE 7     /* smallest square input side the whole network accepts */
#define VGG_INFO_LABEL_COUNT 8        /* 0 or the class count */
#define VGG_INFO_WEIGHT_DTYPE 9       /* 1 = f32, 2 = f16, 3 = bf16 */
#define VGG_INFO_FILE_SIZE 10         /* bytes of the .vgg file */
#define VGG_INFO_FORMAT_VERSION 11    /* the file's format_version: 1, or 2 (f32 fc weights grouped) */
#define VGG_INFO_KEPT_WEIGHT_BYTES 12 /* bytes of Winograd-transformed weights the model keeps now:
                                         made by its sessions' first runs that need them, at most
                                         64 MiB, freed with the model (see
                                         vgg_session_workspace_bytes) */

/* Reads one integer property of `model` into *value. Errors: VGG_ERROR_INVALID_ARGUMENT
 * (NULL model or value, unknown key). Thread-safe. */
int32_t vgg_model_get_info(const vgg_model *model, int32_t key, int64_t *value);

/* Copies the model's preprocessing into mean[3] and scale[3], in the network's channel
 * order (VGG_INFO_CHANNEL_ORDER): network input = (pixel - mean) * scale, pixels 0..255.
 * Errors: VGG_ERROR_INVALID_ARGUMENT. Thread-safe. */
int32_t vgg_model_get_preprocessing(const vgg_model *model, float mean[3], float scale[3]);

/* The model's name (UTF-8, inside the mapped file: valid while the model or one of its
 * sessions lives). NULL if `model` is NULL. Thread-safe. */
const char *vgg_model_name(const vgg_model *model);

/* The canonical (Caffe) name of layer `index` (0 .. VGG_INFO_LAYER_COUNT-1), e.g. "conv1_1",
 * "pool5", "fc6"; same lifetime as vgg_model_name. NULL (and VGG_ERROR_NOT_FOUND as the last
 * error) when out of range. Thread-safe. */
const char *vgg_model_layer_name(const vgg_model *model, int32_t index);

/* Index of the layer called `name`: canonical names ("conv5_3", "fc7"), Keras aliases
 * ("block5_conv3", "fc2") and Caffe's in-place ReLU names ("relu5_3", "relu7", which name the
 * same post-ReLU output). Errors: VGG_ERROR_INVALID_ARGUMENT, VGG_ERROR_NOT_FOUND. */
int32_t vgg_model_layer_index(const vgg_model *model, const char *name, int32_t *index);

/* Label of class `index` (e.g. "n01440764 tench, Tinca tinca"), same lifetime as
 * vgg_model_name; NULL when the model has no labels or index is out of range. Thread-safe. */
const char *vgg_model_label(const vgg_model *model, int32_t index);

/* Writes a JSON description of the model (name, preprocessing, every layer with its type,
 * channels, kernel, stride, padding, parameters) into `buffer` (NUL-terminated) and its
 * length without the NUL into *length. Call with buffer = NULL and capacity = 0 to learn
 * the length first. Errors: VGG_ERROR_INVALID_ARGUMENT, VGG_ERROR_BUFFER_TOO_SMALL (with
 * *length set). Thread-safe. */
int32_t vgg_model_describe(const vgg_model *model, char *buffer, size_t capacity, size_t *length);

/* Output shape {channels, height, width} of layer `layer` (a name as for
 * vgg_model_layer_index; NULL = the last layer, i.e. the class score map) for ONE input image
 * of height x width. Errors: VGG_ERROR_INVALID_ARGUMENT (sizes outside 1..65536),
 * VGG_ERROR_NOT_FOUND (no such layer), VGG_ERROR_INPUT_TOO_SMALL (the message names the
 * minimum size). Thread-safe. */
int32_t vgg_model_output_shape(const vgg_model *model, const char *layer, int64_t height, int64_t width,
                               int64_t shape[3]);

/* ---- Session ------------------------------------------------------------------------ */

/* Creates a session (workspace) for `model`. The session holds its own reference to the
 * model. *out_session receives a handle the caller owns (release with vgg_session_free), or
 * NULL on failure. A new session uses 1 thread. Errors: VGG_ERROR_INVALID_ARGUMENT,
 * VGG_ERROR_OUT_OF_MEMORY. Thread-safe with respect to the model. */
int32_t vgg_session_create(vgg_model *model, vgg_session **out_session);

/* Frees a session, its workspace and its threads (NULL is a no-op). Must not run while the
 * session is in use by another thread. */
void vgg_session_free(vgg_session *session);

/* Session options (vgg_session_set_option / vgg_session_get_option). Options marked TESTING
 * exist to check the fast paths against the reference and to compare kernel paths; programs
 * leave them at their defaults. */
#define VGG_OPTION_THREADS 1          /* threads per run, 1..256; default 1 */
#define VGG_OPTION_FORCE_REFERENCE 2  /* TESTING. 1 = run the naive reference kernels (slow; for checking);
                                         default 0, or 1 when the environment variable
                                         VGG_FORCE_REFERENCE is set to a value other than "0" */
#define VGG_OPTION_ISA 3              /* TESTING. Kernel instruction set: 0 = the best this CPU runs (default),
                                         1 = baseline x86-64, 2 = x86-64-v3 (AVX2+FMA),
                                         3 = x86-64-v4 (AVX-512); a level the CPU lacks gives
                                         VGG_ERROR_UNSUPPORTED. For testing and comparing paths. */
#define VGG_OPTION_WINOGRAD 4         /* 1 (default) = run 3x3 stride-1 pad-1 layers of 8 or
                                         more output columns with Winograd, F(6x6,3x3) or
                                         F(4x4,3x3) per layer, whichever costs less (F(6x6):
                                         ~2x the rounding error, still ~1e-5 relative);
                                         TESTING: 4 or 6 = that tile on every such layer (with bf16
                                         arithmetic the per-layer choice is always 4: 6 there
                                         about doubles its error);
                                         0 = direct convolution only */
#define VGG_OPTION_BF16_ARITHMETIC 5  /* For models with bf16 weights: 1 (default) = the
                                         fastest bf16 arithmetic the CPU has: on AMX tiles
                                         (Intel Sapphire Rapids and later; Linux grants the
                                         process the tile state on first use) the 3x3 layers
                                         with input channels in multiples of 32, and the fc
                                         layers with several output pixels per image (inputs
                                         larger than 224x224), the rest in f32; elsewhere bf16
                                         dot products (AVX512-BF16) where the CPU runs them
                                         faster than f32 FMAs (AMD Zen 4: ~1.4x faster), in f32
                                         on other CPUs. Score maps within ~2e-2 relative L2 of
                                         f32 arithmetic (docs/PERFORMANCE.md);
                                         2 = bf16 dot products (never AMX) wherever the CPU has
                                         AVX512-BF16, even where slower (testing, comparing);
                                         0 = f32 arithmetic. No effect on f32/f16 models or
                                         CPUs without AVX512-BF16. */
#define VGG_OPTION_KEPT_WORKSPACE_MIB 6 /* workspace a session keeps between runs, in MiB,
                                         0..2^40; default 1024. A session keeps the buffers
                                         of its runs for the next run, except: after a failed
                                         run (any error status) it frees them all, and after
                                         a run whose buffers total more than this it frees
                                         them all (a one-off large input does not pin its
                                         memory). 0 = free after every run. */

/* Sets an option. Errors: VGG_ERROR_INVALID_ARGUMENT (NULL session, unknown option, value out
 * of its range: the message gives the range), VGG_ERROR_UNSUPPORTED (an ISA level this CPU
 * lacks). Not thread-safe (session rule). */
int32_t vgg_session_set_option(vgg_session *session, int32_t option, int64_t value);

/* Reads an option into *value. Errors: VGG_ERROR_INVALID_ARGUMENT. */
int32_t vgg_session_get_option(vgg_session *session, int32_t option, int64_t *value);

/* The kernel path runs use: "x86-64-v4" (AVX-512), "x86-64-v3" (AVX2+FMA), "x86-64"
 * (baseline) or "reference". Static storage. NULL if `session` is NULL. */
const char *vgg_session_kernel_path(vgg_session *session);

/* Bytes of workspace a one-image run at height x width takes with the session's current
 * options and threads: the activation buffers, the fc layers' input, per-thread scratch, one
 * score map for vgg_session_probabilities, and the Winograd-transformed weights of this
 * size's first 3x3 layers (made once by the first session of the model that needs them and
 * kept by the model for all its sessions, at most 64 MiB per model over all sizes; counted
 * whether made already or still to be made; see VGG_INFO_KEPT_WEIGHT_BYTES). A run reserves
 * exactly these buffers before its first layer (one plan serves both), so a session's buffers
 * after a run of the whole network (vgg_session_held_bytes) plus the weights the run had the
 * model keep add up to this figure; vgg_session_classify also holds the resized image. The
 * session keeps its buffers and reuses them for later runs of the same or a smaller size,
 * within VGG_OPTION_KEPT_WORKSPACE_MIB (past it, and after a failed run, it frees them when
 * the run ends). Errors as vgg_model_output_shape. */
int32_t vgg_session_workspace_bytes(vgg_session *session, int64_t height, int64_t width, size_t *bytes);

/* As vgg_session_workspace_bytes for a batch of `n` images (1..65536): images run in groups of
 * up to 8 (within 256 MB of activation buffers), the fc layers on the whole batch at once.
 * VGG_ERROR_INVALID_ARGUMENT for n outside 1..65536, otherwise errors as
 * vgg_session_workspace_bytes. */
int32_t vgg_session_batch_workspace_bytes(vgg_session *session, int64_t n, int64_t height, int64_t width,
                                          size_t *bytes);

/* Bytes the session's buffers hold now (not the model's kept weights): 0 for a new session,
 * what its runs reserved afterwards, 0 again after it freed them (a failed or a large run).
 * Thread-safety as every session function. VGG_ERROR_INVALID_ARGUMENT if an argument is NULL. */
int32_t vgg_session_held_bytes(vgg_session *session, size_t *bytes);

/* Runs the network fully convolutionally on `n` preprocessed images (float32, NCHW,
 * n x 3 x height x width, channels in the model's order and already (pixel - mean) * scale)
 * and writes the raw class score map (before soft-max), n x K x h x w floats (the shape from
 * vgg_model_output_shape), into `scores`, which holds `capacity` floats. The caller owns both
 * buffers; nothing is kept after the call. Errors: VGG_ERROR_INVALID_ARGUMENT (NULLs, sizes),
 * VGG_ERROR_UNSUPPORTED (a features-only model), VGG_ERROR_INPUT_TOO_SMALL,
 * VGG_ERROR_BUFFER_TOO_SMALL (the message gives the needed count), VGG_ERROR_OUT_OF_MEMORY.
 * Not thread-safe (session rule). Blocks until the run is complete. */
int32_t vgg_session_forward(vgg_session *session, const float *input, int64_t n, int64_t height, int64_t width,
                            float *scores, size_t capacity);

/* Like vgg_session_forward, then averages each image's score map over space and applies
 * soft-max: writes n x K probabilities. Errors as vgg_session_forward. */
int32_t vgg_session_probabilities(vgg_session *session, const float *input, int64_t n, int64_t height,
                                  int64_t width, float *probabilities, size_t capacity);

/* Outputs of `layer_count` named layers (names as for vgg_model_layer_index) in one pass
 * that stops after the deepest one: outputs[i] (capacities[i] floats) receives n x C x h x w
 * float32 NCHW for layers[i]. Convolution outputs are post-ReLU (as Caffe's in-place ReLU
 * leaves them). Layers up to pool5 work from 32x32 inputs; the fc layers need the minimum
 * size. Errors: VGG_ERROR_INVALID_ARGUMENT, VGG_ERROR_NOT_FOUND (unknown layer name),
 * VGG_ERROR_INPUT_TOO_SMALL, VGG_ERROR_BUFFER_TOO_SMALL, VGG_ERROR_OUT_OF_MEMORY. */
int32_t vgg_session_features(vgg_session *session, const float *input, int64_t n, int64_t height, int64_t width,
                             const char *const *layers, int32_t layer_count, float *const *outputs,
                             const size_t *capacities);

/* Pixel formats of vgg_session_classify. */
#define VGG_PIXELS_RGB 0
#define VGG_PIXELS_BGR 1

/* Resizes one 8-bit image (bilinear, as vgg_session_classify documents) to out_height x
 * out_width and applies the model's preprocessing (channel order, mean, scale), writing
 * 3 x out_height x out_width floats (CHW, ready for vgg_session_forward/_features) into
 * `output`, which holds output_capacity floats; flip = 1 mirrors the result horizontally.
 * pixels, stride and pixel_format as for vgg_session_classify. Errors:
 * VGG_ERROR_INVALID_ARGUMENT, VGG_ERROR_BUFFER_TOO_SMALL. Not thread-safe (session rule). */
int32_t vgg_session_preprocess(vgg_session *session, const uint8_t *pixels, int64_t width, int64_t height,
                               int64_t stride, int32_t pixel_format, int64_t out_height, int64_t out_width,
                               int32_t flip, float *output, size_t output_capacity);

/* Dense evaluation of one 8-bit image as in the VGG paper: for each smaller side Q in
 * scales[0..scale_count) (none: the model's training size), the image is resized so its
 * smaller side is Q, preprocessed with the model's channel order, mean and scale, run fully
 * convolutionally, and its spatially averaged soft-max posteriors are averaged over scales
 * (and over the horizontally flipped image too when flip = 1). Writes the top_k classes,
 * most probable first, into classes[0..top_k) and their probabilities into
 * probabilities[0..top_k).
 *   pixels: height rows of `stride` bytes, each holding width interleaved 3-byte pixels in
 *   pixel_format order (VGG_PIXELS_RGB or VGG_PIXELS_BGR).
 *   Resampling: bilinear on the 0..255 values with pixel centres aligned (source x =
 *   (x + 0.5) * W_in / W_out - 0.5, clamped to [0, W_in - 1]; likewise y), no antialiasing;
 *   the resized size is round(H*Q/min(H,W)) x round(W*Q/min(H,W)).
 *   Memory: every scale's resized size is checked (sides of at most 65536, the model's
 *   minimum) before anything is allocated, and each run's activation buffers are allocated
 *   before its resized image, so an input too large for memory fails before it is written.
 * Errors: VGG_ERROR_INVALID_ARGUMENT (NULLs, sizes, stride < 3*width, top_k outside 1..K, a
 * resized side over 65536), VGG_ERROR_UNSUPPORTED (no classifier), VGG_ERROR_INPUT_TOO_SMALL
 * (a scale below the model's minimum), VGG_ERROR_OUT_OF_MEMORY. */
int32_t vgg_session_classify(vgg_session *session, const uint8_t *pixels, int64_t width, int64_t height,
                             int64_t stride, int32_t pixel_format, const int32_t *scales, int32_t scale_count,
                             int32_t flip, int32_t top_k, int32_t *classes, float *probabilities);

#ifdef __cplusplus
}
#endif

#endif /* VGG_H */
