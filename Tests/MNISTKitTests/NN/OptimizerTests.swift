import MNISTKit
import XCTest

/// One-variable steps on loss = w²/2 (so the gradient is w), checked against
/// values worked by hand from each rule and, where Keras documents one, its example.
final class OptimizerTests: XCTestCase {
    func steps(_ spec: OptimizerSpec, start: Float, count: Int) -> [Float] {
        let optimizer = Optimizer(spec: spec, parameterCount: 1)
        var w = [start]
        var trajectory = [Float]()
        for _ in 0 ..< count {
            let g = w
            w.withUnsafeMutableBufferPointer { optimizer.update(parameters: $0.baseAddress!, gradients: g, count: 1) }
            trajectory.append(w[0])
        }
        return trajectory
    }

    func testRMSpropMatchesKerasDocumentedExample() {
        // keras.optimizers.RMSprop(learning_rate=0.1), var 10 -> 9.683772 after one step:
        // r = 0.1·100 = 10; w -= 0.1·10 / sqrt(10 + 1e-7).
        let w = steps(.rmsprop(learningRate: 0.1, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false), start: 10, count: 2)
        XCTAssertEqual(w[0], 9.683772, accuracy: 1e-5)
        // Step 2: g = 9.683772, r = 0.9·10 + 0.1·g² = 18.377545; w -= 0.1·g / sqrt(r).
        XCTAssertEqual(w[1], 9.683772 - 0.1 * 9.683772 / Float(18.377545).squareRoot(), accuracy: 1e-5)
    }

    func testRMSpropCenteredWithMomentum() {
        // r = 10, a = 1, denominator 9: Δ = 0.1·10/3; m = Δ; w = 10 - 1/3.
        let w = steps(.rmsprop(learningRate: 0.1, rho: 0.9, momentum: 0.5, epsilon: 1e-7, centered: true), start: 10, count: 1)
        XCTAssertEqual(w[0], 10 - 1.0 / 3, accuracy: 1e-5)
    }

    func testSGDMatchesKerasDocumentedMomentumExample() {
        // keras.optimizers.SGD(learning_rate=0.1, momentum=0.9) on var 1: steps of 0.1, then 0.18.
        let w = steps(.sgd(learningRate: 0.1, momentum: 0.9, nesterov: false), start: 1, count: 2)
        XCTAssertEqual(1 - w[0], 0.1, accuracy: 1e-6)
        XCTAssertEqual(w[0] - w[1], 0.18, accuracy: 1e-6)
        XCTAssertEqual(steps(.sgd(learningRate: 0.1, momentum: 0, nesterov: false), start: 1, count: 1)[0], 0.9, accuracy: 1e-7)
    }

    func testSGDNesterov() {
        // v = -0.1; w += 0.9·v - 0.1·1 = -0.19.
        XCTAssertEqual(steps(.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true), start: 1, count: 1)[0], 0.81, accuracy: 1e-6)
    }

    func testAdagrad() {
        // s = 0.1 + 1; w = 1 - 0.1 / sqrt(1.1 + 1e-7).
        XCTAssertEqual(steps(.adagrad(learningRate: 0.1, initialAccumulatorValue: 0.1, epsilon: 1e-7), start: 1, count: 1)[0],
                       1 - 0.1 / Float(1.1).squareRoot(), accuracy: 1e-6)
    }

    func testAdamWithBiasCorrection() {
        // t = 1: m = 0.1, v = 0.001, α = 0.1·sqrt(0.001)/0.1; w -= α·m/(sqrt(v) + 1e-7) = 0.09999968.
        let w = steps(.adam(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7), start: 1, count: 2)
        XCTAssertEqual(w[0], 1 - 0.09999968, accuracy: 1e-6)
        // t = 2 by hand in Double.
        let g1 = 1.0, g2 = Double(w[0])
        let m = 0.9 * (0.1 * g1) + 0.1 * g2, v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2
        let alpha = 0.1 * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.9 * 0.9)
        XCTAssertEqual(Double(w[1]), g2 - alpha * m / (v.squareRoot() + 1e-7), accuracy: 1e-6)
    }
}
