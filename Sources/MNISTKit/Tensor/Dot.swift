extension Tensor where Scalar == Float {
    /// NumPy's `dot`: vector·vector -> scalar, matrix·vector, matrix·matrix, and for
    /// higher ranks a sum over the last axis of `self` and the second-to-last of
    /// `other` (the last, when `other` is a vector). Every product runs in sgemm.
    public func dot(_ other: Tensor) throws -> Tensor {
        guard rank >= 1, other.rank >= 1 else {
            throw TensorError.incompatibleShapes(operation: "dot", lhs: shape, rhs: other.shape)
        }
        if other.rank <= 2 { return try tensordot(other, axes: 1, operation: "dot") }
        // Bring other's contracted axis (second-to-last) to the front, then contract one axis.
        var axes = Array(0 ..< other.rank)
        axes.remove(at: other.rank - 2)
        axes.insert(other.rank - 2, at: 0)
        return try tensordot(try other.transposed(axes: axes), axes: 1, operation: "dot")
    }

    /// Contracts the last `axes` axes of `self` with the first `axes` of `other`:
    /// (a, b, c, d)·(d, e) -> (a, b, c, e) with `axes: 1`.
    public func tensordot(_ other: Tensor, axes: Int = 1) throws -> Tensor {
        try tensordot(other, axes: axes, operation: "tensordot")
    }

    private func tensordot(_ other: Tensor, axes: Int, operation: String) throws -> Tensor {
        guard axes >= 0, axes <= rank, axes <= other.rank,
              Array(shape.suffix(axes)) == Array(other.shape.prefix(axes))
        else { throw TensorError.incompatibleShapes(operation: operation, lhs: shape, rhs: other.shape) }
        let outerShape = Array(shape.dropLast(axes)), innerShape = Array(other.shape.dropFirst(axes))
        let m = outerShape.reduce(1, *), n = innerShape.reduce(1, *)
        let k = shape.suffix(axes).reduce(1, *)
        var output = [Float](repeating: 0, count: m * n)
        if m > 0, n > 0, k > 0 {
            scalars.withUnsafeBufferPointer { a in
                other.scalars.withUnsafeBufferPointer { b in
                    output.withUnsafeMutableBufferPointer { c in
                        sgemm(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n,
                              c: c.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return Tensor(unchecked: outerShape + innerShape, output)
    }

    /// Matrix product of two rank-2 tensors with optional transposes, passed to
    /// sgemm as flags: `matmul(a, b, transposeA: true)` is aᵀ·b without copying a.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        guard a.rank == 2, b.rank == 2 else {
            throw TensorError.incompatibleShapes(operation: "matmul", lhs: a.shape, rhs: b.shape)
        }
        let m = transposeA ? a.shape[1] : a.shape[0], k = transposeA ? a.shape[0] : a.shape[1]
        let kB = transposeB ? b.shape[1] : b.shape[0], n = transposeB ? b.shape[0] : b.shape[1]
        guard k == kB else { throw TensorError.incompatibleShapes(operation: "matmul", lhs: a.shape, rhs: b.shape) }
        var output = [Float](repeating: 0, count: m * n)
        if m > 0, n > 0, k > 0 {
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    output.withUnsafeMutableBufferPointer { pc in
                        sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                              a: pa.baseAddress!, lda: a.shape[1], b: pb.baseAddress!, ldb: b.shape[1],
                              c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return Tensor(unchecked: [m, n], output)
    }
}
