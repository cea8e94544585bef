import CBLAS

/// Row-major single-precision matrix product through OpenBLAS:
/// `C = alpha * op(A) * op(B) + beta * C`, with op(A) of shape (m, k) and op(B) (k, n).
/// Transposes are passed as flags, never materialised.
@inline(__always)
public func sgemm(
    transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The shape of one sgemm call, to replay it.
public struct GEMMCall: Equatable, Sendable {
    /// Whether A and B are used transposed.
    public let transposeA: Bool, transposeB: Bool
    /// op(A) is (m, k), op(B) is (k, n), C is (m, n).
    public let m: Int, n: Int, k: Int
    /// The leading dimensions (row strides) of A, B and C.
    public let lda: Int, ldb: Int, ldc: Int

    /// A call with these flags, sizes and strides.
    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
        (self.transposeA, self.transposeB, self.m, self.n, self.k, self.lda, self.ldb, self.ldc) = (transposeA, transposeB, m, n, k, lda, ldb, ldc)
    }

    /// Floating-point operations of the call: 2·m·n·k.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

    /// Elements the A, B and C operands span.
    public var sizes: (a: Int, b: Int, c: Int) {
        ((transposeA ? k : m) * lda, (transposeB ? n : k) * ldb, m * ldc)
    }
}

/// OpenBLAS' process-wide settings.
public enum BLAS {
    /// Threads OpenBLAS uses for each call. The training step keeps it at one
    /// and splits its products over its own `WorkerPool` instead.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// The kernel family OpenBLAS picked for this processor, e.g. "SkylakeX".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
