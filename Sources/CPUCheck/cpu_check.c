// Compiled for baseline x86-64 (no -march): the Makefile only says, through
// MNIST_X86_64_LEVEL, which level the Swift code was built for: 3 for -target-cpu haswell
// (x86-64-v3), 4 for skylake-avx512 (x86-64-v4).
#include "CPUCheck.h"
#include <stdio.h>
#include <unistd.h>

#ifndef MNIST_X86_64_LEVEL
#define MNIST_X86_64_LEVEL 1
#endif

const char *mnist_required_cpu_features(void) {
#if MNIST_X86_64_LEVEL >= 4
    return "x86-64-v4 (AVX-512)";
#elif MNIST_X86_64_LEVEL >= 3
    return "x86-64-v3 (AVX2, FMA)";
#else
    return "";
#endif
}

#if defined(__x86_64__) && MNIST_X86_64_LEVEL >= 3
static int has_required_features(void) {
    __builtin_cpu_init();
    int ok = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
          && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c")
          && __builtin_cpu_supports("movbe");
#if MNIST_X86_64_LEVEL >= 4
    ok = ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
         && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
#endif
    return ok;
}

// Runs before main, so before any instruction of the level is reached.
__attribute__((constructor)) static void mnist_check_cpu(void) {
    if (has_required_features()) return;
    char path[512];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    path[length > 0 ? length : 0] = '\0';
    fprintf(stderr, "error: %s: built for %s processors, and this one is not one; rebuild it here with `make build` "
                    "(or `make build TARGET_CPU=x86-64` for any x86-64)\n", length > 0 ? path : "this program", mnist_required_cpu_features());
    _exit(69);
}
#endif
