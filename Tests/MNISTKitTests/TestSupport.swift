import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The package's root folder, found from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh, empty folder for one test's files.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mnistkit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Asserts two float arrays agree within `tolerance`, reporting the largest difference.
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "count differs \(message)", file: file, line: line)
    let worst = zip(actual, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    XCTAssertLessThanOrEqual(worst, tolerance, "largest relative difference \(worst) \(message)", file: file, line: line)
}

/// Row-major index helpers for naive reference loops.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return index
}

func ravel(_ index: [Int], _ shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// A spec for `syntheticDataset`: dense 16 relu, dropout, dense 10 softmax.
func syntheticSpec(optimizer: OptimizerSpec = .defaults(.rmsprop), epochs: Int = 4, dropout: Double = 0.1) -> ModelSpec {
    var spec = ModelSpec(layers: [
        .flatten,
        .dense(units: 16, activation: .relu, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros),
        .dropout(rate: dropout),
        .dense(units: 10, activation: .softmax, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros),
    ], loss: .categoricalCrossentropy)
    spec.name = "synthetic"
    spec.dataset = "synthetic"
    spec.inputShape = [4, 4]
    spec.optimizer = optimizer
    spec.epochs = epochs
    spec.batchSize = 32
    spec.seed = 3
    return spec
}
