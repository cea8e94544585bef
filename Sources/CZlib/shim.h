#include <zlib.h>

// inflateInit2 is a macro (it passes the zlib version and the stream size), so
// Swift cannot call it; this wrapper can.
static inline int czlib_inflate_init2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

// deflateInit2 is a macro too; tests use it to build gzip fixtures.
static inline int czlib_deflate_init2(z_streamp stream, int level, int window_bits) {
    return deflateInit2(stream, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
