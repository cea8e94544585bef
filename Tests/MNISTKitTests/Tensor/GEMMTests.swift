import MNISTKit
import XCTest

/// The sgemm entry against a naive triple loop in Double, for every transpose
/// combination with padded leading dimensions and both betas.
final class GEMMTests: XCTestCase {
    func testEveryTransposeAndStrideMatchesNaiveLoop() {
        var generator = RandomGenerator(seed: 11)
        let (m, n, k) = (5, 7, 9)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                for beta: Float in [0, 0.5] {
                    // Stored shapes: A is (m, k) or (k, m); rows padded by 3 floats.
                    let (aRows, aColumns) = transposeA ? (k, m) : (m, k), (bRows, bColumns) = transposeB ? (n, k) : (k, n)
                    let lda = aColumns + 3, ldb = bColumns + 2, ldc = n + 1
                    let a = (0 ..< aRows * lda).map { _ in generator.nextUnitFloat() * 2 - 1 }
                    let b = (0 ..< bRows * ldb).map { _ in generator.nextUnitFloat() * 2 - 1 }
                    var c = (0 ..< m * ldc).map { _ in generator.nextUnitFloat() }
                    var expected = c
                    for i in 0 ..< m {
                        for j in 0 ..< n {
                            var sum = 0.0
                            for p in 0 ..< k {
                                let x = transposeA ? a[p * lda + i] : a[i * lda + p], y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                                sum += Double(x) * Double(y)
                            }
                            expected[i * ldc + j] = Float(0.5 * sum + Double(beta) * Double(c[i * ldc + j]))
                        }
                    }
                    c.withUnsafeMutableBufferPointer { cp in
                        sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: cp.baseAddress!, ldc: ldc)
                    }
                    // Padding columns of C are left as they were.
                    assertClose(c, expected, tolerance: 1e-5, "transposeA \(transposeA) transposeB \(transposeB) beta \(beta)")
                }
            }
        }
    }
}
