import CPUCheck

/// What the kernels were compiled for.
public enum BuildTarget {
    /// The x86-64 level the Makefile built for, e.g. "x86-64-v3 (AVX2, FMA)"; empty for
    /// baseline x86-64 (plain `swift build`, or MNISTKit as a dependency). A processor without
    /// it is refused before main (`Sources/CPUCheck`).
    public static var requiredCPU: String { String(cString: mnist_required_cpu_features()) }
}
