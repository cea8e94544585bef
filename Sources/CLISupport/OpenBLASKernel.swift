import Foundation
@preconcurrency import Glibc
import MNISTKit

/// Debian's OpenBLAS 0.3.21 does not recognise the newest Intel processors and
/// falls back to its slowest kernel, Prescott (SSE3): 45 GFLOP/s against 204
/// with its SkylakeX kernel on the same 2-core machine. When that happened and
/// the processor has AVX-512 (or AVX2 and FMA), the command runs itself again
/// with `OPENBLAS_CORETYPE` naming the kernel it can use; OpenBLAS reads it once,
/// when it loads. An `OPENBLAS_CORETYPE` already set is always respected.
public enum OpenBLASKernel {
    public static func useSuitableKernel() {
        guard getenv("OPENBLAS_CORETYPE") == nil, BLAS.coreName == "Prescott",
              let kernel = suitableKernel(flags: processorFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed: go on with the fallback kernel, which computes correctly.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// The fastest kernel of OpenBLAS 0.3.21 whose instructions these CPU flags cover.
    public static func suitableKernel(flags: Set<String>) -> String? {
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The first processor's `flags` in /proc/cpuinfo.
    static func processorFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
