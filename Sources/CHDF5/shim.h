/* libhdf5 (Debian's serial build). HDF5 type "constants" such as H5T_NATIVE_FLOAT are macros
 * that call H5open() and read a global: Swift cannot import them, so they are wrapped here. */
#include <hdf5.h>

static inline hid_t vggh5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t vggh5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t vggh5_c_s1(void) { return H5T_C_S1; }
static inline hid_t vggh5_p_default(void) { return H5P_DEFAULT; }
