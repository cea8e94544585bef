extension Tensor {
    /// Reduces `axis` away: `lane` sees the elements along it and returns one value.
    func reduce<Result: TensorScalar>(
        axis: Int, _ lane: (_ count: Int, _ element: (Int) -> Scalar) -> Result
    ) throws -> Tensor<Result> {
        let axis = axis < 0 ? axis + rank : axis
        guard axis >= 0, axis < rank else { throw TensorError.invalidAxis(axis: axis, rank: rank) }
        let outer = shape[..<axis].reduce(1, *)
        let length = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var output = [Result]()
        output.reserveCapacity(outer * inner)
        for o in 0 ..< outer {
            for i in 0 ..< inner {
                let base = o * length * inner + i
                output.append(lane(length) { scalars[base + $0 * inner] })
            }
        }
        var newShape = shape
        newShape.remove(at: axis)
        return Tensor<Result>(unchecked: newShape, output)
    }
}

extension Tensor where Scalar: TensorFloatingPoint {
    /// Sums along `axis`, removing it.
    public func sum(axis: Int) throws -> Tensor {
        try reduce(axis: axis) { count, element in
            var total = Scalar.zero
            for k in 0 ..< count { total += element(k) }
            return total
        }
    }

    /// Means along `axis`, removing it.
    public func mean(axis: Int) throws -> Tensor {
        let total = try sum(axis: axis)
        return total / Scalar(Swift.max(count / Swift.max(total.count, 1), 1))
    }

    /// Maxima along `axis`, removing it.
    public func max(axis: Int) throws -> Tensor {
        try reduce(axis: axis) { count, element in
            var best = -Scalar.infinity
            for k in 0 ..< count { best = Swift.max(best, element(k)) }
            return best
        }
    }

    /// Index of the largest element along `axis` (the first one on ties, like NumPy).
    public func argmax(axis: Int) throws -> Tensor<Int> {
        try reduce(axis: axis) { count, element in
            var best = 0
            for k in 1 ..< Swift.max(count, 1) where element(k) > element(best) { best = k }
            return best
        }
    }

    /// Sum of every element, as a plain value.
    public func sum() -> Scalar { scalars.reduce(.zero, +) }
}
