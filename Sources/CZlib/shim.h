#ifndef EMD_CZLIB_SHIM_H
#define EMD_CZLIB_SHIM_H
#include <zlib.h>
// deflateInit2/inflateInit2 are macros; expose them as functions.
static inline int czlib_inflate_init2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
static inline int czlib_deflate_init2(z_streamp s, int level, int windowBits) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
