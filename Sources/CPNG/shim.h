#include <png.h>

// libpng's simplified API (png_image) reports errors through image->message instead of
// longjmp, so Swift can call it directly; these wrappers only give its macros a form Swift sees.
static inline png_uint_32 cpng_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline png_uint_32 cpng_format_linear_rgba(void) { return PNG_FORMAT_LINEAR_RGB_ALPHA; }
static inline png_uint_32 cpng_format_gray(void) { return PNG_FORMAT_GRAY; }
static inline png_uint_32 cpng_image_version(void) { return PNG_IMAGE_VERSION; }
static inline int cpng_is_warning_only(png_uint_32 warning_or_error) {
    return (warning_or_error & PNG_IMAGE_ERROR) == 0;
}
