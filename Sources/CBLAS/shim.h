// OpenBLAS' cblas.h (Debian: libopenblas-dev) also declares openblas_set_num_threads
// and openblas_get_corename, which the trainer uses for --threads and its header line.
#include <cblas.h>
