import Foundation

/// Floating-point element types: the ones arithmetic, `exp` and `log` work on.
public protocol TensorFloatingPoint: TensorScalar, BinaryFloatingPoint {
    /// e raised to `x`.
    static func exponential(_ x: Self) -> Self
    /// The natural logarithm of `x`.
    static func naturalLogarithm(_ x: Self) -> Self
}

extension Float: TensorFloatingPoint {
    /// e raised to `x`.
    public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    /// The natural logarithm of `x`.
    public static func naturalLogarithm(_ x: Float) -> Float { Foundation.log(x) }
}

extension Double: TensorFloatingPoint {
    /// e raised to `x`.
    public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    /// The natural logarithm of `x`.
    public static func naturalLogarithm(_ x: Double) -> Double { Foundation.log(x) }
}

/// The NumPy broadcast of two shapes: align from the right; sizes must match or be 1.
public func broadcastShape(_ lhs: [Int], _ rhs: [Int], operation: String = "broadcast") throws -> [Int] {
    let rank = max(lhs.count, rhs.count)
    let left = [Int](repeating: 1, count: rank - lhs.count) + lhs
    let right = [Int](repeating: 1, count: rank - rhs.count) + rhs
    return try zip(left, right).map { a, b in
        if a == b || b == 1 { return a }
        if a == 1 { return b }
        throw TensorError.incompatibleShapes(operation: operation, lhs: lhs, rhs: rhs)
    }
}

/// Strides that read `shape` as if broadcast to `target` (0 along stretched axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    return zip(padded, rowMajorStrides(padded)).map { size, stride in size == 1 ? 0 : stride }
}

extension Tensor {
    /// Combines two tensors element by element under NumPy broadcasting.
    public static func broadcasting<Other: TensorScalar, Result: TensorScalar>(
        _ lhs: Tensor, _ rhs: Tensor<Other>, operation: String = "broadcast",
        _ combine: (Scalar, Other) -> Result
    ) throws -> Tensor<Result> {
        if lhs.shape == rhs.shape {
            return Tensor<Result>(unchecked: lhs.shape, zip(lhs.scalars, rhs.scalars).map(combine))
        }
        let shape = try broadcastShape(lhs.shape, rhs.shape, operation: operation)
        let outerShape = Array(shape.dropLast())
        let inner = shape.last ?? 1
        let lhsStrides = broadcastStrides(lhs.shape, to: shape)
        let rhsStrides = broadcastStrides(rhs.shape, to: shape)
        let lhsInner = lhsStrides.last ?? 0, rhsInner = rhsStrides.last ?? 0
        var output = [Result]()
        output.reserveCapacity(shape.reduce(1, *))
        // Walk the outer axes once for each operand; the last axis is a plain strided loop.
        var lhsOffsets = [Int](), rhsOffsets = [Int]()
        forEachOffset(shape: outerShape, strides: Array(lhsStrides.dropLast())) { lhsOffsets.append($0) }
        forEachOffset(shape: outerShape, strides: Array(rhsStrides.dropLast())) { rhsOffsets.append($0) }
        if shape.isEmpty { lhsOffsets = [0]; rhsOffsets = [0] }
        for (lhsBase, rhsBase) in zip(lhsOffsets, rhsOffsets) {
            for i in 0 ..< inner {
                output.append(combine(lhs.scalars[lhsBase + i * lhsInner], rhs.scalars[rhsBase + i * rhsInner]))
            }
        }
        return Tensor<Result>(unchecked: shape, output)
    }
}

extension Tensor where Scalar: TensorFloatingPoint {
    /// Element-wise sum under NumPy broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor { try broadcasting(lhs, rhs, operation: "add", +) }
    /// Element-wise difference under NumPy broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) throws -> Tensor { try broadcasting(lhs, rhs, operation: "subtract", -) }
    /// Element-wise product under NumPy broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) throws -> Tensor { try broadcasting(lhs, rhs, operation: "multiply", *) }
    /// Element-wise quotient under NumPy broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) throws -> Tensor { try broadcasting(lhs, rhs, operation: "divide", /) }

    /// Adds `rhs` to every element.
    public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.map { $0 + rhs } }
    /// Subtracts `rhs` from every element.
    public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.map { $0 - rhs } }
    /// Multiplies every element by `rhs`.
    public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.map { $0 * rhs } }
    /// Divides every element by `rhs`.
    public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.map { $0 / rhs } }
    /// Negates every element.
    public static prefix func - (operand: Tensor) -> Tensor { operand.map { -$0 } }

    /// Element-wise maximum under broadcasting (`maximum(x, 0)` is relu).
    public static func maximum(_ lhs: Tensor, _ rhs: Tensor) throws -> Tensor {
        try broadcasting(lhs, rhs, operation: "maximum") { Swift.max($0, $1) }
    }

    /// The element-wise maximum with one value.
    public static func maximum(_ lhs: Tensor, _ rhs: Scalar) -> Tensor { lhs.map { Swift.max($0, rhs) } }

    /// max(x, 0), element-wise.
    public func relu() -> Tensor { Tensor.maximum(self, .zero) }
    /// e raised to each element.
    public func exp() -> Tensor { map(Scalar.exponential) }
    /// The natural logarithm of each element.
    public func log() -> Tensor { map(Scalar.naturalLogarithm) }
}

extension Tensor where Scalar == UInt8 {
    /// Pixels as floats in [0, 1], the way the trainer feeds images.
    public func scaledToUnitInterval() -> Tensor<Float> { map { Float($0) / 255 } }
}
