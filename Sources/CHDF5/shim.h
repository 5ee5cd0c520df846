/* libhdf5 (Debian's serial build) for the converter. HDF5's type "constants" (H5T_NATIVE_FLOAT,
 * H5P_DEFAULT, H5S_ALL) are macros Swift cannot import, and string attributes need
 * variable-length memory handling: small wrappers here do both. */
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A watchdog for libhdf5 calls on untrusted metadata: libhdf5 1.10 can loop forever on a
 * malformed global heap (see docs/RELIABILITY.md). If a guarded call takes longer than the
 * armed time, the converter says so and exits 1 (its output is an anonymous temporary file
 * until the end, so nothing is left behind). 0 seconds disarms. */
static void vggh5_watchdog_fired(int sig) {
    (void)sig;
    static const char message[] = "vgg-convert: libhdf5 stopped responding while reading the file's metadata "
                                  "(a libhdf5 hang on malformed files); giving up\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
    _exit(1);
}

/* The same for crashes: libhdf5 1.10 can dereference wild pointers on malformed files (a memcpy
 * in H5HG_read, see docs/RELIABILITY.md). While guarded, SIGSEGV/SIGBUS end the converter with a
 * one-line message and exit status 1 instead of a crash report; the output is still an
 * anonymous temporary file, so nothing is left behind. */
static void vggh5_crashed(int sig) {
    (void)sig;
    static const char message[] = "vgg-convert: libhdf5 crashed while reading the file (a libhdf5 bug on "
                                  "malformed files); the file is damaged or not a valid HDF5 weights file\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
    _exit(1);
}

static inline void vggh5_crash_guard(int on) {
    /* Function-local statics: file-scope ones in a header Swift imports are not emitted. */
    static struct sigaction vggh5_saved_segv, vggh5_saved_bus;
    static int vggh5_guarded = 0;
    if (on && !vggh5_guarded) {
        static char alternate_stack[1 << 16];
        stack_t ss;
        memset(&ss, 0, sizeof ss);
        ss.ss_sp = alternate_stack;
        ss.ss_size = sizeof alternate_stack;
        sigaltstack(&ss, NULL);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = vggh5_crashed;
        sa.sa_flags = SA_ONSTACK;
        sigaction(SIGSEGV, &sa, &vggh5_saved_segv);
        sigaction(SIGBUS, &sa, &vggh5_saved_bus);
        vggh5_guarded = 1;
    } else if (!on && vggh5_guarded) {
        sigaction(SIGSEGV, &vggh5_saved_segv, NULL);
        sigaction(SIGBUS, &vggh5_saved_bus, NULL);
        vggh5_guarded = 0;
    }
}

static inline void vggh5_watchdog(unsigned seconds) {
    static int installed = 0;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = vggh5_watchdog_fired;
        sigaction(SIGALRM, &sa, NULL);
        installed = 1;
    }
    alarm(seconds);
}

/* Turns off HDF5's automatic error-stack printing: the converter reports its own errors. */
static inline void vggh5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static inline hid_t vggh5_open_readonly(const char *path) {
    return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

/* 1 if every component of `path` below `loc` exists (H5Lexists checks one level at a time). */
static inline int vggh5_path_exists(hid_t loc, const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 0; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (i > 0 && H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = saved;
        }
    }
    return 1;
}

/* 1 group, 2 dataset, 0 absent or another kind, -1 error. */
static inline int vggh5_object_kind(hid_t loc, const char *path) {
    if (!vggh5_path_exists(loc, path)) return 0;
    H5O_info_t info;
    if (H5Oget_info_by_name(loc, path, &info, H5P_DEFAULT) < 0) return -1;
    return info.type == H5O_TYPE_GROUP ? 1 : info.type == H5O_TYPE_DATASET ? 2 : 0;
}

/* Number of links in the group at `path`, or -1. */
static inline long vggh5_child_count(hid_t loc, const char *path) {
    H5G_info_t info;
    if (H5Gget_info_by_name(loc, path, &info, H5P_DEFAULT) < 0) return -1;
    return (long)info.nlinks;
}

/* Name of child `index` (in name order) of the group at `path` into buf; its length or -1. */
static inline long vggh5_child_name(hid_t loc, const char *path, unsigned long index, char *buf, size_t size) {
    return (long)H5Lget_name_by_idx(loc, path, H5_INDEX_NAME, H5_ITER_INC, index, buf, size, H5P_DEFAULT);
}

static inline void vggh5_free_strings(char **strings, long count) {
    if (!strings) return;
    for (long i = 0; i < count; i++) free(strings[i]);
    free(strings);
}

/* Reads the string (or string array) attribute `name` of the object at `obj` (relative to
 * loc). Returns the number of strings and sets *out to a malloc'd array of malloc'd strings
 * (release with vggh5_free_strings). Returns 0 for an empty non-string array (Keras 3 writes
 * empty weight_names as float64[0]), -1 if absent, -2 if not strings, -3 on a read error. */
static inline long vggh5_read_strings(hid_t loc, const char *obj, const char *name, char ***out) {
    *out = NULL;
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) <= 0) return -1;
    hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -3;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    long result = -3;
    if (t < 0 || s < 0 || n < 0 || n > (1 << 24)) goto done;
    if (H5Tget_class(t) != H5T_STRING) {
        result = n == 0 ? 0 : -2;
        goto done;
    }
    char **strings = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (!strings) goto done;
    if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char **raw = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
        if (raw && H5Aread(a, mt, raw) >= 0) {
            result = (long)n;
            for (hssize_t i = 0; i < n; i++) {
                strings[i] = strdup(raw[i] ? raw[i] : "");
                if (!strings[i]) result = -3;
            }
            H5Dvlen_reclaim(mt, s, H5P_DEFAULT, raw);
        }
        free(raw);
        H5Tclose(mt);
    } else {
        size_t size = H5Tget_size(t);
        char *buf = size > 0 && size < (1u << 20) ? calloc((size_t)n * size + 1, 1) : NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, size);
        H5Tset_strpad(mt, H5T_STR_NULLPAD); /* all `size` bytes are characters (numpy 'S' arrays) */
        if (buf && H5Aread(a, mt, buf) >= 0) {
            result = (long)n;
            for (hssize_t i = 0; i < n; i++) {
                strings[i] = strndup(buf + (size_t)i * size, size);
                if (!strings[i]) result = -3;
            }
        }
        free(buf);
        H5Tclose(mt);
    }
    if (result < 0) vggh5_free_strings(strings, (long)n);
    else *out = strings;
done:
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return result;
}

/* Shape of the numeric dataset at `path`: its rank (dims filled, up to 8), -1 if absent or
 * not a dataset, -2 if its values are not numbers, -3 on error. */
static inline int vggh5_dataset_shape(hid_t loc, const char *path, unsigned long long dims[8]) {
    if (vggh5_object_kind(loc, path) != 2) return -1;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) return -3;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int result = -3;
    H5T_class_t c = H5Tget_class(t);
    if (c != H5T_FLOAT && c != H5T_INTEGER) {
        result = -2;
    } else {
        int rank = H5Sget_simple_extent_ndims(s);
        hsize_t h[8];
        if (rank >= 0 && rank <= 8 && H5Sget_simple_extent_dims(s, h, NULL) >= 0) {
            for (int i = 0; i < rank; i++) dims[i] = h[i];
            result = rank;
        }
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return result;
}

/* Reads the whole dataset at `path` as float32 (HDF5 converts from other float/int types)
 * into buf, which holds `count` floats (the dataset's element count). 0 or -1. */
static inline int vggh5_read_floats(hid_t loc, const char *path, float *buf, unsigned long long count) {
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    int result = -1;
    if (n >= 0 && (unsigned long long)n == count &&
        H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
        result = 0;
    H5Sclose(s);
    H5Dclose(d);
    return result;
}
