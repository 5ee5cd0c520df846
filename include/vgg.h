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
 *     file share its pages through the page cache.
 *   - vgg_session: the per-run workspace of one model. NOT thread-safe: use a session from
 *     one thread at a time (one session per thread is the usual pattern). A session keeps
 *     its model alive: vgg_model_close() may be called while sessions exist; the mapping is
 *     released when the last of the model handle and its sessions is gone.
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
 * VGG_ERROR_NOT_FOUND (no such file), VGG_ERROR_IO, VGG_ERROR_FORMAT, VGG_ERROR_CHECKSUM.
 * Thread-safe. */
int32_t vgg_model_open(const char *path, uint32_t flags, vgg_model **out_model);

/* Like vgg_model_open, on `size` bytes at `data` that the caller owns. The bytes are not
 * copied: they must stay valid and unchanged until the model and all its sessions are
 * released. Tensor data is read in place, so `data` should be aligned to 64 bytes or more.
 * Thread-safe. */
int32_t vgg_model_open_memory(const void *data, size_t size, uint32_t flags, vgg_model **out_model);

/* Releases the caller's reference to `model` (NULL is a no-op). Sessions created from it
 * stay valid; the mapping goes when the last session is freed. Using `model` after this
 * call is undefined behaviour. Do not close a model while another thread uses it. */
void vgg_model_close(vgg_model *model);

/* ---- Session ------------------------------------------------------------------------ */

/* Creates a session (workspace) for `model`. The session holds its own reference to the
 * model. *out_session receives a handle the caller owns (release with vgg_session_free), or
 * NULL on failure. Errors: VGG_ERROR_INVALID_ARGUMENT, VGG_ERROR_OUT_OF_MEMORY.
 * Thread-safe with respect to the model. */
int32_t vgg_session_create(vgg_model *model, vgg_session **out_session);

/* Frees a session and its workspace (NULL is a no-op). Must not run while the session is
 * in use by another thread. */
void vgg_session_free(vgg_session *session);

#ifdef __cplusplus
}
#endif

#endif /* VGG_H */
