import MNISTKit
import XCTest

final class TensorTests: XCTestCase {
    /// Naive broadcasting reference: for every output index, index each operand
    /// by dropping leading axes and clamping size-1 axes to 0.
    func naiveBroadcast(_ a: Tensor<Float>, _ b: Tensor<Float>, _ op: (Float, Float) -> Float) -> ([Int], [Float]) {
        let rank = max(a.rank, b.rank)
        let pa = Array(repeating: 1, count: rank - a.rank) + a.shape
        let pb = Array(repeating: 1, count: rank - b.rank) + b.shape
        let shape = zip(pa, pb).map { $0 == 1 ? $1 : $0 }
        let count = shape.reduce(1, *)
        let values = (0 ..< count).map { flat -> Float in
            let index = unravel(flat, shape)
            let ia = zip(index, pa).map { $1 == 1 ? 0 : $0 }
            let ib = zip(index, pb).map { $1 == 1 ? 0 : $0 }
            return op(a.scalars[ravel(ia, pa)], b.scalars[ravel(ib, pb)])
        }
        return (shape, values)
    }

    func testBroadcastingMatchesNaiveLoopsOnRandomShapes() throws {
        var generator = RandomGenerator(seed: 7)
        let cases: [([Int], [Int])] = [
            ([32, 10], [10]), ([2, 3, 4, 5], [4, 5]), ([4, 1], [1, 3]), ([1], [3, 2]), ([3, 1, 5], [4, 1]),
            ([2, 3], [2, 3]), ([], [2, 2]), ([1, 1, 1], [2, 1, 3]), ([5, 1], [5]), ([0, 3], [3]),
        ]
        for (lhsShape, rhsShape) in cases {
            let a = randomTensor(lhsShape, &generator), b = randomTensor(rhsShape, &generator)
            for (name, op, naive) in [("+", { try $0 + $1 }, { (x: Float, y: Float) in x + y }),
                                      ("-", { try $0 - $1 }, { $0 - $1 }),
                                      ("*", { try $0 * $1 }, { $0 * $1 }),
                                      ("/", { try $0 / $1 }, { $0 / $1 })]
                as [(String, (Tensor<Float>, Tensor<Float>) throws -> Tensor<Float>, (Float, Float) -> Float)] {
                let result = try op(a, b)
                let (shape, values) = naiveBroadcast(a, b, naive)
                XCTAssertEqual(result.shape, shape, "\(lhsShape) \(name) \(rhsShape)")
                assertClose(result.scalars, values, tolerance: 0, "\(lhsShape) \(name) \(rhsShape)")
            }
        }
    }

    func testIncompatibleShapesNameBoth() {
        let a = try! Tensor<Float>(zeros: [32, 10]), b = try! Tensor<Float>(zeros: [9])
        XCTAssertThrowsError(try a + b) { error in
            XCTAssertEqual("\(error)", "add: shapes (32, 10) and (9,) are not compatible")
        }
        XCTAssertThrowsError(try Tensor<Float>(zeros: [2, 3]) * Tensor<Float>(zeros: [3, 2]))
    }

    func testUnaryOperations() throws {
        let x = try Tensor<Float>(shape: [2, 3], scalars: [-2, -0.5, 0, 0.5, 1, 3])
        XCTAssertEqual(x.relu().scalars, [0, 0, 0, 0.5, 1, 3])
        XCTAssertEqual(Tensor.maximum(x, 0).scalars, x.relu().scalars)
        XCTAssertEqual(try Tensor.maximum(x, Tensor(shape: [3], scalars: [0, -1, 1])).scalars, [0, -0.5, 1, 0.5, 1, 3])
        assertClose(x.exp().scalars, [0.135335283, 0.60653066, 1, 1.64872127, 2.71828183, 20.0855369])
        assertClose(x.exp().log().scalars, x.scalars, tolerance: 1e-6)
        XCTAssertEqual((x * 2 + 1).scalars, [-3, 0, 1, 2, 3, 7])
        XCTAssertEqual((-x).scalars, [2, 0.5, 0, -0.5, -1, -3])
    }

    /// Naive dot reference over explicit loops: contracts a's last axis with b's
    /// second-to-last (or only) axis, as numpy.dot does.
    func naiveDot(_ a: Tensor<Float>, _ b: Tensor<Float>) -> ([Int], [Float]) {
        let k = a.shape.last!
        let bAxis = b.rank == 1 ? 0 : b.rank - 2
        var bRest = b.shape
        bRest.remove(at: bAxis)
        let shape = Array(a.shape.dropLast()) + bRest
        let values = (0 ..< shape.reduce(1, *)).map { flat -> Float in
            let index = unravel(flat, shape)
            let aIndex = Array(index.prefix(a.rank - 1))
            let bIndexRest = Array(index.suffix(b.rank - 1))
            var total: Double = 0
            for j in 0 ..< k {
                var bIndex = bIndexRest
                bIndex.insert(j, at: bAxis)
                total += Double(a.scalars[ravel(aIndex + [j], a.shape)]) * Double(b.scalars[ravel(bIndex, b.shape)])
            }
            return Float(total)
        }
        return (shape, values)
    }

    func testDotMatchesNaiveLoops() throws {
        var generator = RandomGenerator(seed: 11)
        let cases: [([Int], [Int])] = [
            ([7], [7]), ([5, 7], [7]), ([7], [7, 3]), ([5, 7], [7, 3]), ([2, 3, 4, 6], [6]),
            ([2, 3, 4, 6], [6, 5]), ([1, 1], [1, 1]), ([3, 4], [2, 4, 5]), ([64, 784], [784, 33]),
        ]
        for (lhsShape, rhsShape) in cases {
            let a = randomTensor(lhsShape, &generator), b = randomTensor(rhsShape, &generator)
            let result = try a.dot(b)
            let (shape, values) = naiveDot(a, b)
            XCTAssertEqual(result.shape, shape, "\(lhsShape)·\(rhsShape)")
            assertClose(result.scalars, values, tolerance: 1e-4, "\(lhsShape)·\(rhsShape)")
        }
        XCTAssertThrowsError(try randomTensor([3, 4], &generator).dot(randomTensor([5, 2], &generator))) {
            XCTAssertEqual("\($0)", "dot: shapes (3, 4) and (5, 2) are not compatible")
        }
    }

    func testTensordotAndMatmulTransposeFlags() throws {
        var generator = RandomGenerator(seed: 3)
        let a = randomTensor([2, 3, 4], &generator), b = randomTensor([3, 4, 5], &generator)
        let c = try a.tensordot(b, axes: 2)
        XCTAssertEqual(c.shape, [2, 5])
        let (_, naive) = naiveDot(try a.reshaped([2, 12]), try b.reshaped([12, 5]))
        assertClose(c.scalars, naive, tolerance: 1e-5)

        let x = randomTensor([6, 4], &generator), y = randomTensor([6, 3], &generator), z = randomTensor([5, 4], &generator)
        assertClose(try Tensor.matmul(x, y, transposeA: true).scalars, try x.transposed().dot(y).scalars)
        assertClose(try Tensor.matmul(x, z, transposeB: true).scalars, try x.dot(z.transposed()).scalars)
        assertClose(try Tensor.matmul(y, x, transposeA: true, transposeB: false).scalars,
                    naiveDot(y.transposed(), x).1, tolerance: 1e-5)
    }

    func testReshapeInfersAndChecks() throws {
        let x = try Tensor<Float>(shape: [2, 3, 4], scalars: (0 ..< 24).map(Float.init))
        XCTAssertEqual(try x.reshaped([4, -1]).shape, [4, 6])
        XCTAssertEqual(try x.reshaped([-1]).shape, [24])
        XCTAssertEqual(try x.reshaped([4, -1]).scalars, x.scalars)
        XCTAssertThrowsError(try x.reshaped([5, -1])) {
            XCTAssertEqual("\($0)", "cannot reshape (2, 3, 4) (24 elements) into (5, -1)")
        }
        XCTAssertThrowsError(try x.reshaped([-1, -1]))
        XCTAssertThrowsError(try x.reshaped([5, 5]))
        XCTAssertThrowsError(try Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3]))
    }

    func testTransposeAnyPermutationMatchesIndexing() throws {
        var generator = RandomGenerator(seed: 5)
        let x = randomTensor([2, 3, 4, 5], &generator)
        let axes = [2, 0, 3, 1]
        let y = try x.transposed(axes: axes)
        XCTAssertEqual(y.shape, [4, 2, 5, 3])
        for flat in 0 ..< y.count {
            let index = unravel(flat, y.shape)
            var source = [Int](repeating: 0, count: 4)
            for (outAxis, inAxis) in axes.enumerated() { source[inAxis] = index[outAxis] }
            XCTAssertEqual(y.scalars[flat], x.scalars[ravel(source, x.shape)])
        }
        let m = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(m.transposed().shape, [3, 2])
        XCTAssertEqual(m.transposed().scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(m[1, 2], 6)
        XCTAssertEqual(m.transposed()[2, 1], 6)
        XCTAssertThrowsError(try x.transposed(axes: [0, 1, 1, 2]))
    }

    func testReductionsMatchNaiveLoops() throws {
        var generator = RandomGenerator(seed: 9)
        let x = randomTensor([3, 4, 5], &generator)
        for axis in 0 ..< 3 {
            var outShape = x.shape
            let length = outShape.remove(at: axis)
            var sums = [Float](), maxima = [Float](), argmaxes = [Int]()
            for flat in 0 ..< outShape.reduce(1, *) {
                var index = unravel(flat, outShape)
                index.insert(0, at: axis)
                var total: Float = 0, best = -Float.infinity, bestAt = 0
                for k in 0 ..< length {
                    index[axis] = k
                    let v = x.scalars[ravel(index, x.shape)]
                    total += v
                    if v > best { best = v; bestAt = k }
                }
                sums.append(total); maxima.append(best); argmaxes.append(bestAt)
            }
            XCTAssertEqual(try x.sum(axis: axis).shape, outShape)
            assertClose(try x.sum(axis: axis).scalars, sums)
            assertClose(try x.mean(axis: axis).scalars, sums.map { $0 / Float(length) })
            XCTAssertEqual(try x.max(axis: axis).scalars, maxima)
            XCTAssertEqual(try x.argmax(axis: axis).scalars, argmaxes)
        }
        XCTAssertEqual(try x.sum(axis: -1).shape, [3, 4])
        XCTAssertThrowsError(try x.sum(axis: 3)) { XCTAssertEqual("\($0)", "axis 3 is out of range for a tensor of rank 3") }
        XCTAssertThrowsError(try x.mean(axis: -7))
        let ties = try Tensor<Float>(shape: [4], scalars: [1, 3, 3, 0])
        XCTAssertEqual(try ties.argmax(axis: 0).scalars, [1])
    }

    func testBatchingAlongAxisZero() throws {
        let x = try Tensor<Float>(shape: [5, 2], scalars: (0 ..< 10).map(Float.init))
        let batches = try x.batches(of: 2)
        XCTAssertEqual(batches.map(\.shape), [[2, 2], [2, 2], [1, 2]])
        XCTAssertEqual(batches[2].scalars, [8, 9])
        XCTAssertEqual(try x.rows(1 ..< 3).scalars, [2, 3, 4, 5])
        XCTAssertThrowsError(try x.rows(4 ..< 6))
    }

    func testDTypeAndScaling() throws {
        let pixels = try Tensor<UInt8>(shape: [1, 3], scalars: [0, 51, 255])
        XCTAssertEqual(pixels.dtype, .uint8)
        let scaled = pixels.scaledToUnitInterval()
        XCTAssertEqual(scaled.dtype, .float32)
        XCTAssertEqual(scaled.scalars, [0, 0.2, 1])
        XCTAssertEqual(Tensor<Double>(scalar: 2).rank, 0)
    }
}
