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

    // Two variables' worth of steps on loss = |w|²/2 from w = (1, -2), against
    // the trajectories keras.optimizers (Keras 3.15, JAX) printed for the same
    // arguments, and where short enough, the rule worked by hand.
    func vectorSteps(_ spec: OptimizerSpec, count: Int) -> [[Float]] {
        let optimizer = Optimizer(spec: spec, parameterCount: 2)
        var w: [Float] = [1, -2]
        var trajectory = [[Float]]()
        for _ in 0 ..< count {
            let g = w
            w.withUnsafeMutableBufferPointer { optimizer.update(parameters: $0.baseAddress!, gradients: g, count: 2) }
            trajectory.append(w)
        }
        return trajectory
    }

    /// Keras computes 1 - β₂ᵗ in float32, where it cancels (relative error about
    /// 5e-5 at t = 2), so its Adam steps differ from exact ones by up to 3e-6;
    /// a missing or doubled weight decay moves these weights by 4e-4 or more.
    func assertClose(_ actual: [[Float]], _ expected: [[Float]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual.joined(), expected.joined()) { XCTAssertEqual(a, e, accuracy: 5e-6, file: file, line: line) }
    }

    func testAdamWDecaysWeightsBeforeTheAdamStep() {
        // Keras' default weight_decay 0.004: w -= w·0.004·0.1 first, then Adam's step of about 0.1 against g.
        assertClose(vectorSteps(.defaults(.adamw).with { $0.learningRate = .constant(0.1) }, count: 2),
                    [[0.8996009826660156, -1.8992007970809937], [0.7996569275856018, -1.7986103296279907]])
        assertClose(vectorSteps(.defaults(.adamw).with { $0.learningRate = .constant(0.1); $0.weightDecay = 0.1 }, count: 2),
                    [[0.8900009989738464, -1.8800008296966553], [0.7815740704536438, -1.7614108324050903]])
        // By hand, step 1 with wd 0.1: w = 1 - 1·0.1·0.1 = 0.99; then Adam's first step,
        // α·m/(sqrt(v) + ε) with α = 0.1·sqrt(0.001)/0.1, m = 0.1, v = 0.001: 0.09999968.
        let first = vectorSteps(.defaults(.adamw).with { $0.learningRate = .constant(0.1); $0.weightDecay = 0.1 }, count: 1)[0][0]
        XCTAssertEqual(first, 0.99 - 0.09999968, accuracy: 1e-6)
    }

    func testNadamMatchesKeras() {
        assertClose(vectorSteps(.defaults(.nadam).with { $0.learningRate = .constant(0.1) }, count: 3),
                    [[0.8937212228775024, -1.8937212228775024], [0.8202452659606934, -1.8182227611541748],
                     [0.7546743154525757, -1.7497214078903198]])
        // Step 1 by hand: μ₁ = 0.9(1 - 0.5·0.96), μ₂ = 0.9(1 - 0.5·0.96²); m = 0.1g, v = 0.001g²;
        // m̂ = μ₂m/(1 - μ₁μ₂) + (1 - μ₁)g/(1 - μ₁); v̂ = v/0.001 = g²; Δ = 0.1·m̂/(|g| + 1e-7).
        let u1 = 0.9 * (1 - 0.5 * 0.96), u2 = 0.9 * (1 - 0.5 * 0.96 * 0.96)
        let mHat = u2 * 0.1 / (1 - u1 * u2) + (1 - u1) / (1 - u1)
        XCTAssertEqual(Double(vectorSteps(.defaults(.nadam).with { $0.learningRate = .constant(0.1) }, count: 1)[0][0]),
                       1 - 0.1 * mHat / (1 + 1e-7), accuracy: 1e-6)
    }

    func testWeightDecayOnSGD() {
        // w -= w·0.5·0.1, then w -= 0.1·g with g the pre-decay w: 1 → 0.95 - 0.1 = 0.85.
        assertClose(vectorSteps(.sgd(learningRate: 0.1, momentum: 0, nesterov: false).with { $0.weightDecay = 0.5 }, count: 2),
                    [[0.85, -1.7], [0.7225, -1.445]])
    }

    func testGradientClipping() {
        // clipnorm 1: g = (1, -2) has norm √5, scaled to (1, -2)/√5.
        assertClose(vectorSteps(.sgd(learningRate: 0.1, momentum: 0, nesterov: false).with { $0.clipnorm = 1 }, count: 1),
                    [[0.9552786350250244, -1.9105572700500488]])
        assertClose(vectorSteps(.sgd(learningRate: 0.1, momentum: 0, nesterov: false).with { $0.clipvalue = 1.5 }, count: 1), [[0.9, -1.85]])
        // clipnorm is per variable, global_clipnorm over all: two one-element variables.
        for (global, expected) in [(false, [Float(0.9), -1.9]), (true, [Float(1 - 0.1 / 5.squareRoot()), Float(-2 + 0.2 / 5.squareRoot())])] {
            let spec = OptimizerSpec.sgd(learningRate: 0.1, momentum: 0, nesterov: false).with {
                if global { $0.globalClipnorm = 1 } else { $0.clipnorm = 1 }
            }
            let optimizer = Optimizer(spec: spec, parameterCount: 2)
            var w: [Float] = [1, -2]
            w.withUnsafeMutableBufferPointer { optimizer.update(parameters: $0.baseAddress!, gradients: [1, -2], count: 2, variables: [0 ..< 1, 1 ..< 2]) }
            XCTAssertEqual(w[0], expected[0], accuracy: 1e-6)
            XCTAssertEqual(w[1], expected[1], accuracy: 1e-6)
        }
    }
}

extension OptimizerSpec {
    func with(_ change: (inout OptimizerSpec) -> Void) -> OptimizerSpec {
        var copy = self
        change(&copy)
        return copy
    }
}
