// Swift's Float.squareRoot() goes through a C shim that calls sqrtf with errno
// semantics (Linux compiles C with -fmath-errno), and a loop that may set errno
// does not vectorise. This builtin is the llvm.sqrt intrinsic whatever the errno
// setting: the same correctly rounded square root, and the loops vectorise
// (sqrtps) without -fno-math-errno, an unsafe flag dependents may not use.
static inline float errno_free_sqrtf(float x) {
    return __builtin_elementwise_sqrt(x);
}
