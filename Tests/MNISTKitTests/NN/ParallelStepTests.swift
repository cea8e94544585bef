import MNISTKit
import XCTest

/// The step split across threads must compute what one thread computes; the
/// one-thread step is itself checked against finite differences.
final class ParallelStepTests: XCTestCase {
    private var savedThreads = 1

    override func setUp() {
        savedThreads = BLAS.threadCount
        BLAS.threadCount = 1
    }

    override func tearDown() { BLAS.threadCount = savedThreads }

    func testPartitionCoversTheRangeInAlignedBalancedParts() {
        for n in [0, 1, 15, 16, 17, 100, 784, 1000] {
            for parts in 1 ... 5 {
                for alignment in [1, 8, 16] {
                    var next = 0
                    for part in 0 ..< parts {
                        let range = partition(n, parts: parts, part: part, alignment: alignment)
                        XCTAssertEqual(range.lowerBound, next, "n \(n), part \(part) of \(parts)")
                        if range.upperBound < n { XCTAssertEqual(range.upperBound % alignment, 0) }
                        XCTAssertLessThanOrEqual(range.count, ((n + alignment - 1) / alignment + parts - 1) / parts * alignment)
                        next = range.upperBound
                    }
                    XCTAssertEqual(next, n)
                }
            }
        }
        XCTAssertEqual(partition(784, parts: 2, part: 0), 0 ..< 400)
        XCTAssertEqual(partition(784, parts: 2, part: 1), 400 ..< 784)
    }

    func testPoolRunsEveryPartOnceAndWaitsForAll() {
        let pool = WorkerPool(count: 3)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        counts.initialize(repeating: 0, count: 3)
        defer { counts.deallocate() }
        for phase in 1 ... 3000 {
            pool.run { t in
                if t == 2, phase % 7 == 0 { usleep(50) } // a slow part: run must still wait for it
                counts[t] += 1
            }
            XCTAssertEqual([counts[0], counts[1], counts[2]], [phase, phase, phase])
            if phase % 500 == 0 { usleep(1000) } // long enough for the helpers to block, then wake them
        }
    }

    /// Dense layers wide enough to split by columns (200 >= 64 x 3), narrow ones
    /// split by rows, an odd batch of 7, and every kind of backward fusion.
    let threeThreads = WorkerPool(count: 3)

    func makeModels(_ layers: [LayerSpec], loss: LossKind, optimizer: OptimizerSpec = .defaults(.rmsprop),
                    serialThreads: Int = 1) throws -> (serial: Model, parallel: Model, workspaces: (Workspace, Workspace)) {
        var spec = ModelSpec(layers: layers, loss: loss)
        spec.inputShape = [50]
        spec.optimizer = optimizer
        let serial = try Model(spec: spec), parallel = try Model(spec: spec)
        var generator = RandomGenerator(seed: 11)
        serial.initializeParameters(generator: &generator)
        for k in 0 ..< serial.parameterCount { serial.parameters.pointer[k] += (generator.nextUnitFloat() - 0.5) * 0.1 }
        parallel.parameters.assign(serial.parameters.array)
        let B = 7
        let inputs = (0 ..< B * 50).map { _ in generator.nextUnitFloat() }
        let labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: 10)) }
        let workspaces = (serial.makeWorkspace(capacity: B, training: true, threads: serialThreads),
                          parallel.makeWorkspace(capacity: B, training: true, threads: 3))
        serial.load(workspaces.0, inputs: inputs, labels: labels)
        parallel.load(workspaces.1, inputs: inputs, labels: labels)
        return (serial, parallel, workspaces)
    }

    func dense(_ units: Int, _ activation: Activation) -> LayerSpec {
        .dense(units: units, activation: activation, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros)
    }

    var modelsUnderTest: [(layers: [LayerSpec], loss: LossKind)] {
        [
            ([dense(200, .relu), dense(30, .tanh), dense(10, .softmax)], .categoricalCrossentropy),
            ([dense(200, .linear), .activation(.sigmoid), .dropout(rate: 0.2), dense(40, .relu), dense(10, .softmax)], .meanSquaredError),
            ([dense(200, .sigmoid), dense(10, .sigmoid)], .sparseCategoricalCrossentropy),
        ]
    }

    func testThreeThreadsComputeTheSameLossAndGradientsAsOne() throws {
        for (layers, loss) in modelsUnderTest {
            let (serial, parallel, (serialSpace, parallelSpace)) = try makeModels(layers, loss: loss)
            var dropoutA = RandomGenerator(seed: 5), dropoutB = RandomGenerator(seed: 5)
            let one = serial.lossAndGradients(serialSpace, B: 7, dropout: &dropoutA)
            let three = parallel.lossAndGradients(parallelSpace, B: 7, workers: threeThreads, dropout: &dropoutB)
            XCTAssertEqual(one.lossSum, three.lossSum, accuracy: 1e-5 * abs(one.lossSum))
            XCTAssertEqual(one.correct, three.correct)
            XCTAssertTrue(serial.parameterGradients.array.contains { abs($0) > 1e-3 })
            assertClose(parallel.parameterGradients.array, serial.parameterGradients.array, tolerance: 1e-5, "\(layers.map(\.typeName)) \(loss)")
        }
    }

    /// The step updates each slice of parameters right after its gradient; that
    /// must equal computing all gradients first and updating after.
    func testFusedUpdateEqualsGradientsThenUpdate() throws {
        let optimizers: [OptimizerSpec] = [
            .rmsprop(learningRate: 0.01, rho: 0.9, momentum: 0.5, epsilon: 1e-7, centered: true),
            .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7),
            .sgd(learningRate: 0.1, momentum: 0.9, nesterov: true),
        ]
        for optimizerSpec in optimizers {
            for (layers, loss) in modelsUnderTest {
                let (reference, fused, (referenceSpace, fusedSpace)) = try makeModels(layers, loss: loss, optimizer: optimizerSpec, serialThreads: 3)
                let referenceOptimizer = Optimizer(spec: optimizerSpec, parameterCount: reference.parameterCount)
                let fusedOptimizer = Optimizer(spec: optimizerSpec, parameterCount: fused.parameterCount)
                var dropoutA = RandomGenerator(seed: 6), dropoutB = RandomGenerator(seed: 6)
                for _ in 0 ..< 3 {
                    _ = reference.lossAndGradients(referenceSpace, B: 7, workers: threeThreads, dropout: &dropoutA)
                    referenceOptimizer.update(parameters: reference.parameters.pointer, gradients: reference.parameterGradients.pointer, count: reference.parameterCount)
                    _ = fused.trainStep(fusedSpace, B: 7, optimizer: fusedOptimizer, workers: threeThreads, dropout: &dropoutB)
                }
                XCTAssertEqual(fused.parameters.array, reference.parameters.array, "\(optimizerSpec) \(layers.map(\.typeName))")
                XCTAssertEqual(fusedOptimizer.step, 3)
            }
        }
    }
}
