// Refuses to run on a processor that lacks the vector instructions the tools were built for.
// `make` builds them for the x86-64 level of the machine it runs on (v3: AVX2 and FMA, v4: AVX-512);
// a binary copied to an older x86-64 then stops with one error line and exit 69 before any Swift
// code runs, instead of dying of an illegal instruction. The check is a constructor in cpu_check.c.
#ifndef MNIST_CPU_CHECK_H
#define MNIST_CPU_CHECK_H

/// The x86-64 level this build requires, e.g. "x86-64-v3 (AVX2, FMA)" (empty for baseline x86-64).
const char *mnist_required_cpu_features(void);

#endif
