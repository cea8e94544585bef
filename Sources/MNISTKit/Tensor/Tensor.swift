/// Element types a tensor can hold. `dtype` names them the way NumPy and
/// safetensors do, so shapes and types read the same in errors and files.
public protocol TensorScalar: Sendable, Equatable {
    /// The element type's name.
    static var dtype: DType { get }
    /// The additive identity, for zero-filled tensors.
    static var zero: Self { get }
}

/// Element types, named as NumPy and safetensors name them.
public enum DType: String, Sendable, Equatable, CaseIterable {
    case float32, float64, uint8, int64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        case .uint8: return 1
        }
    }
}

extension Float: TensorScalar {
    /// `float32`.
    public static var dtype: DType { .float32 }
}
extension Double: TensorScalar {
    /// `float64`.
    public static var dtype: DType { .float64 }
}
extension UInt8: TensorScalar {
    /// `uint8`.
    public static var dtype: DType { .uint8 }
}
extension Int: TensorScalar {
    /// `int64`.
    public static var dtype: DType { .int64 }
}

/// A tensor operation given shapes, axes or rows it cannot use.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case countMismatch(shape: [Int], count: Int)
    case negativeDimension(shape: [Int])
    case incompatibleShapes(operation: String, lhs: [Int], rhs: [Int])
    case invalidReshape(from: [Int], to: [Int])
    case invalidAxis(axis: Int, rank: Int)
    case invalidPermutation(axes: [Int], rank: Int)
    case rowsOutOfRange(rows: Range<Int>, count: Int)
    case rankTooLow(operation: String, shape: [Int])

    /// The problem with the shapes involved, as NumPy would word it.
    public var description: String {
        switch self {
        case let .countMismatch(shape, count):
            return "shape \(formatShape(shape)) holds \(shape.reduce(1, *)) elements, received \(count)"
        case let .negativeDimension(shape):
            return "shape \(formatShape(shape)) has a negative dimension"
        case let .incompatibleShapes(operation, lhs, rhs):
            return "\(operation): shapes \(formatShape(lhs)) and \(formatShape(rhs)) are not compatible"
        case let .invalidReshape(from, to):
            return "cannot reshape \(formatShape(from)) (\(from.reduce(1, *)) elements) into \(formatShape(to))"
        case let .invalidAxis(axis, rank):
            return "axis \(axis) is out of range for a tensor of rank \(rank)"
        case let .invalidPermutation(axes, rank):
            return "axes \(axes) are not a permutation of 0..<\(rank)"
        case let .rowsOutOfRange(rows, count):
            return "rows \(rows.lowerBound)..<\(rows.upperBound) are out of range for \(count) rows"
        case let .rankTooLow(operation, shape):
            return "\(operation) needs a tensor of rank 1 or more, received shape \(formatShape(shape))"
        }
    }
}

/// Formats a shape the way NumPy and Keras print it: `(32, 10)`, `(10,)`, `()`.
public func formatShape(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

/// An n-dimensional array: a shape and contiguous row-major storage.
public struct Tensor<Scalar: TensorScalar>: Equatable, Sendable {
    /// The size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order.
    public internal(set) var scalars: [Scalar]

    /// The number of axes.
    public var rank: Int { shape.count }
    /// The number of elements.
    public var count: Int { scalars.count }
    /// The element type.
    public var dtype: DType { Scalar.dtype }

    /// A tensor of `scalars` in row-major order; their count must fill `shape`.
    public init(shape: [Int], scalars: [Scalar]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.negativeDimension(shape: shape) }
        guard shape.reduce(1, *) == scalars.count else {
            throw TensorError.countMismatch(shape: shape, count: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// For callers that built `scalars` to fit `shape` themselves.
    init(unchecked shape: [Int], _ scalars: [Scalar]) {
        assert(shape.reduce(1, *) == scalars.count)
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of `shape` with every element `value`.
    public init(repeating value: Scalar, shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.negativeDimension(shape: shape) }
        self.init(unchecked: shape, [Scalar](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of `shape` filled with zeros.
    public init(zeros shape: [Int]) throws {
        try self.init(repeating: .zero, shape: shape)
    }

    /// A rank-0 tensor holding one value.
    public init(scalar: Scalar) {
        self.init(unchecked: [], [scalar])
    }

    /// Row-major strides, in elements.
    public var strides: [Int] { rowMajorStrides(shape) }

    /// The element at `indices`, one per axis.
    public subscript(indices: Int...) -> Scalar {
        get { scalars[flatIndex(indices)] }
        set { scalars[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "expected \(rank) indices, received \(indices.count)")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "index \(index) out of range for axis \(axis)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    /// Same elements, new shape; one dimension may be -1 and is then inferred.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let inferred = newShape.filter { $0 == -1 }.count
        guard inferred <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            throw TensorError.invalidReshape(from: shape, to: newShape)
        }
        var resolved = newShape
        if let at = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            guard known > 0, count % known == 0 else { throw TensorError.invalidReshape(from: shape, to: newShape) }
            resolved[at] = count / known
        }
        guard resolved.reduce(1, *) == count else { throw TensorError.invalidReshape(from: shape, to: newShape) }
        return Tensor(unchecked: resolved, scalars)
    }

    /// Rows `rows` along axis 0 (a batch), copied.
    public func rows(_ rows: Range<Int>) throws -> Tensor {
        guard rank >= 1 else { throw TensorError.rankTooLow(operation: "rows", shape: shape) }
        guard rows.lowerBound >= 0, rows.upperBound <= shape[0] else {
            throw TensorError.rowsOutOfRange(rows: rows, count: shape[0])
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        var newShape = shape
        newShape[0] = rows.count
        return Tensor(unchecked: newShape, Array(scalars[rows.lowerBound * rowSize ..< rows.upperBound * rowSize]))
    }

    /// Consecutive batches along axis 0; the last one holds the remainder.
    public func batches(of size: Int) throws -> [Tensor] {
        precondition(size > 0, "batch size must be positive")
        guard rank >= 1 else { throw TensorError.rankTooLow(operation: "batches", shape: shape) }
        return try stride(from: 0, to: shape[0], by: size).map { try rows($0 ..< min($0 + size, shape[0])) }
    }

    /// The 2-D transpose (reverses the axes of any rank, like NumPy's `.T`).
    public func transposed() -> Tensor {
        // A reversed range is always a valid permutation.
        (try? transposed(axes: Array((0 ..< rank).reversed()))) ?? self
    }

    /// Permutes the axes: output axis i is input axis `axes[i]`.
    public func transposed(axes: [Int]) throws -> Tensor {
        guard axes.count == rank, Set(axes) == Set(0 ..< rank) else {
            throw TensorError.invalidPermutation(axes: axes, rank: rank)
        }
        let newShape = axes.map { shape[$0] }
        let inputStrides = strides
        let permutedStrides = axes.map { inputStrides[$0] }
        var output = [Scalar]()
        output.reserveCapacity(count)
        forEachOffset(shape: newShape, strides: permutedStrides) { output.append(scalars[$0]) }
        return Tensor(unchecked: newShape, output)
    }

    /// Applies `transform` to every element.
    public func map<Result: TensorScalar>(_ transform: (Scalar) -> Result) -> Tensor<Result> {
        Tensor<Result>(unchecked: shape, scalars.map(transform))
    }
}

func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}

/// Calls `body` with the storage offset of every index of `shape`, in row-major
/// order, where `strides` says how far each axis moves in storage.
func forEachOffset(shape: [Int], strides: [Int], _ body: (Int) -> Void) {
    if shape.contains(0) { return }
    var index = [Int](repeating: 0, count: shape.count)
    var offset = 0
    while true {
        body(offset)
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < shape[axis] { break }
            offset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
        if axis < 0 { return }
    }
}
