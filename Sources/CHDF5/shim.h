// Debian's serial libhdf5 (libhdf5-dev) keeps its headers under hdf5/serial.
#include <hdf5/serial/hdf5.h>

// HDF5's identifiers for its built-in types and property classes are macros that
// open the library first; these wrappers give them a form Swift can call.
static inline hid_t chdf5_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_all(void) { return H5S_ALL; }
static inline hid_t chdf5_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_c_string(void) { return H5T_C_S1; }
static inline unsigned chdf5_truncate(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_read_only(void) { return H5F_ACC_RDONLY; }
static inline size_t chdf5_variable_size(void) { return H5T_VARIABLE; }
// The library prints a stack of errors to stderr by default; the library here never prints.
static inline void chdf5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
