import Glibc

/// Runs `body` with denormal floats flushed to zero on this thread (x86's FTZ and
/// DAZ bits), as TensorFlow does on CPUs. Optimizer state of a weight whose
/// gradient has become zero decays geometrically into the denormal range, where
/// each operation costs about a hundred cycles; flushing keeps updates fast and
/// changes only values below 1.2e-38.
public func withDenormalsFlushedToZero<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    #if arch(x86_64)
    var saved = fenv_t()
    fegetenv(&saved)
    var flushing = saved
    flushing.__mxcsr |= 0x8040 // FTZ (bit 15) | DAZ (bit 6)
    fesetenv(&flushing)
    defer { fesetenv(&saved) }
    #endif
    return try body()
}
