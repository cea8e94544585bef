import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// A small CNN through the whole training machinery: threads, the fused
/// update, determinism, checkpoints and exact resume.
final class CNNTrainingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// conv (relu, deferred to the pool), max pooling, batch norm, conv, dropout, dense.
    func cnnSpec(optimizer: OptimizerSpec = .defaults(.adam), epochs: Int = 4) throws -> ModelSpec {
        var spec = syntheticSpec(optimizer: optimizer, epochs: epochs)
        spec.layers = [
            try LayerSpec.parse(#"{"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"}"#),
            try LayerSpec.parse(#"{"type": "max_pooling2d", "pool_size": 2}"#),
            try LayerSpec.parse(#"{"type": "batch_normalization"}"#),
            try LayerSpec.parse(#"{"type": "conv2d", "filters": 5, "kernel_size": 2, "padding": "same", "activation": "tanh"}"#),
            .flatten, .dropout(rate: 0.25), .dense(units: 10, activation: .softmax),
        ]
        spec.inputShape = [4, 4]
        return spec
    }

    /// Augmentation (translation, erasing), a residual block (conv-BN-relu-conv-BN, add, relu)
    /// and a second branch concatenated on the channels.
    func residualSpec(epochs: Int = 4) throws -> ModelSpec {
        var spec = syntheticSpec(optimizer: .defaults(.adam), epochs: epochs)
        spec.layers = try [
            #"{"type": "random_translation", "height_factor": 0.2, "width_factor": 0.2}"#,
            #"{"type": "random_erasing", "factor": 0.5, "scale": [0.05, 0.2], "value_range": [0, 1]}"#,
            #"{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu", "name": "stem"}"#,
            #"{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "use_bias": false}"#,
            #"{"type": "batch_normalization"}"#, #"{"type": "relu"}"#,
            #"{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "use_bias": false}"#,
            #"{"type": "batch_normalization", "name": "block_end"}"#,
            #"{"type": "add", "inputs": ["block_end", "stem"]}"#, #"{"type": "relu", "name": "block_out"}"#,
            #"{"type": "conv2d", "filters": 3, "kernel_size": 1, "activation": "tanh", "name": "side", "inputs": ["stem"]}"#,
            #"{"type": "concatenate", "inputs": ["block_out", "side"]}"#,
            #"{"type": "flatten"}"#, #"{"type": "dropout", "rate": 0.25}"#, #"{"type": "dense", "units": 10, "activation": "softmax"}"#,
        ].map(LayerSpec.parse)
        spec.inputShape = [4, 4]
        return spec
    }

    /// The residual model: the same bytes twice, another seed differs, and two epochs, a save, a
    /// load and two more give the straight run's bytes, on one thread and two.
    func testResidualModelIsDeterministicAndResumesExactly() throws {
        let data = syntheticDataset(count: 130, seed: 3)
        let spec = try residualSpec()
        for threads in [1, 2] {
            let straight = Checkpoint(trainer: try trained(spec, data: data, epochs: 4, threads: threads)).encoded()
            XCTAssertEqual(Checkpoint(trainer: try trained(spec, data: data, epochs: 4, threads: threads)).encoded(), straight)
            XCTAssertEqual(try halfSavedAndResumed(spec, data: data, threads: threads), straight, "\(threads) threads")
        }
        var other = spec
        other.seed = 4
        XCTAssertNotEqual(try trained(other, data: data, epochs: 1).model.parameters.array, try trained(spec, data: data, epochs: 1).model.parameters.array)
    }

    /// Two epochs, a save, a load and two more: the checkpoint's bytes.
    func halfSavedAndResumed(_ spec: ModelSpec, data: Dataset, threads: Int) throws -> [UInt8] {
        let path = directory.appendingPathComponent("half.ckpt").path
        try Checkpoint(trainer: try trained(spec, data: data, epochs: 2, threads: threads)).save(to: path)
        let plan = try TrainingPlan(configPath: nil, resumePath: path, epochs: 4, batchSize: nil, seed: nil)
        let resumed = try plan.makeTrainer(train: data, workers: WorkerPool(count: threads))
        while resumed.state.epochsCompleted < 4 { _ = try resumed.runEpoch() }
        return Checkpoint(trainer: resumed).encoded()
    }

    func trained(_ spec: ModelSpec, data: Dataset, epochs: Int, threads: Int = 1) throws -> Trainer {
        let trainer = try Trainer(spec: spec, train: data, workers: WorkerPool(count: threads))
        while trainer.state.epochsCompleted < epochs { _ = try trainer.runEpoch() }
        return trainer
    }

    func testThreadsComputeWhatOneThreadComputes() throws {
        for spec in [try cnnSpec(), try residualSpec()] {
            let model = try Model(spec: spec)
            var generator = RandomGenerator(seed: 3)
            model.initializeParameters(generator: &generator)
            let B = 9
            let inputs = (0 ..< B * 16).map { _ in generator.nextUnitFloat() }, labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: 10)) }
            var results = [(Double, [Float])]()
            for threads in [1, 3] {
                let workspace = model.makeWorkspace(capacity: B, training: true, threads: threads)
                model.load(workspace, inputs: inputs, labels: labels)
                var dropout = RandomGenerator(seed: 5)
                let score = model.lossAndGradients(workspace, B: B, workers: WorkerPool(count: threads), dropout: &dropout)
                results.append((score.lossSum, model.parameterGradients.array))
            }
            XCTAssertEqual(results[0].0, results[1].0, accuracy: 1e-5 * abs(results[0].0))
            XCTAssertTrue(results[0].1.contains { abs($0) > 1e-3 })
            assertClose(results[1].1, results[0].1, tolerance: 1e-5, "three threads against one")
        }
    }

    /// Each layer updates its parameters once their gradients are final: the
    /// same as computing every gradient first and updating after.
    func testFusedUpdateEqualsGradientsThenUpdate() throws {
        for threads in [1, 2] {
            let spec = try cnnSpec(optimizer: .rmsprop(learningRate: 0.01, rho: 0.9, momentum: 0.5, epsilon: 1e-7, centered: true))
            let reference = try Model(spec: spec), fused = try Model(spec: spec)
            var generator = RandomGenerator(seed: 8)
            reference.initializeParameters(generator: &generator)
            fused.parameters.assign(reference.parameters.array)
            fused.nonTrainable.assign(reference.nonTrainable.array)
            let B = 7, workers = WorkerPool(count: threads)
            let inputs = (0 ..< B * 16).map { _ in generator.nextUnitFloat() }, labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: 10)) }
            let (referenceSpace, fusedSpace) = (reference.makeWorkspace(capacity: B, training: true, threads: threads),
                                                fused.makeWorkspace(capacity: B, training: true, threads: threads))
            reference.load(referenceSpace, inputs: inputs, labels: labels)
            fused.load(fusedSpace, inputs: inputs, labels: labels)
            let referenceOptimizer = Optimizer(spec: spec.optimizer, parameterCount: reference.parameterCount)
            let fusedOptimizer = Optimizer(spec: spec.optimizer, parameterCount: fused.parameterCount)
            var dropoutA = RandomGenerator(seed: 6), dropoutB = RandomGenerator(seed: 6)
            for _ in 0 ..< 3 {
                _ = reference.lossAndGradients(referenceSpace, B: B, workers: workers, dropout: &dropoutA)
                referenceOptimizer.update(parameters: reference.parameters.pointer, gradients: reference.parameterGradients.pointer, count: reference.parameterCount)
                _ = fused.trainStep(fusedSpace, B: B, optimizer: fusedOptimizer, workers: workers, dropout: &dropoutB)
            }
            XCTAssertEqual(fused.parameters.array, reference.parameters.array, "\(threads) threads")
            XCTAssertEqual(fused.nonTrainable.array, reference.nonTrainable.array, "\(threads) threads")
        }
    }

    func testTrainingLearnsAndIsDeterministic() throws {
        let data = syntheticDataset(count: 300, seed: 4)
        let spec = try cnnSpec(optimizer: .adam(learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7), epochs: 10)
        let first = try trained(spec, data: data, epochs: 10, threads: 2)
        XCTAssertGreaterThan(first.model.evaluate(data).accuracy, 0.9)
        let again = try trained(spec, data: data, epochs: 10, threads: 2)
        XCTAssertEqual(Checkpoint(trainer: again).encoded(), Checkpoint(trainer: first).encoded())
        var other = spec
        other.seed = 4
        XCTAssertNotEqual(try trained(other, data: data, epochs: 10, threads: 2).model.parameters.array, first.model.parameters.array)
    }

    /// Four epochs straight, or two, a save, a load and two more: the same bytes
    /// (moving averages, dropout and shuffle streams included).
    func testResumeIsExact() throws {
        let data = syntheticDataset(count: 130, seed: 2)
        for threads in [1, 2] {
            let spec = try cnnSpec()
            let straight = Checkpoint(trainer: try trained(spec, data: data, epochs: 4, threads: threads)).encoded()
            XCTAssertEqual(try halfSavedAndResumed(spec, data: data, threads: threads), straight, "\(threads) threads")
        }
    }

    func testCheckpointHoldsKerasNamesAndOnlyTrainableSlots() throws {
        let trainer = try trained(try cnnSpec(), data: syntheticDataset(count: 60, seed: 1), epochs: 1)
        let path = directory.appendingPathComponent("cnn.ckpt").path
        try Checkpoint(trainer: trainer).save(to: path)
        let loaded = try Checkpoint.load(path: path)
        let layerTensors = loaded.tensors.filter { !$0.name.hasPrefix("optimizer.") }
        XCTAssertEqual(layerTensors.map(\.name), ["conv2d_1.kernel", "conv2d_1.bias", "batch_normalization_1.gamma", "batch_normalization_1.beta",
                                                  "batch_normalization_1.moving_mean", "batch_normalization_1.moving_variance",
                                                  "conv2d_2.kernel", "conv2d_2.bias", "dense_1.kernel", "dense_1.bias"])
        XCTAssertEqual(layerTensors.map(\.shape), [[3, 3, 1, 6], [6], [6], [6], [6], [6], [2, 2, 6, 5], [5], [20, 10], [10]])
        XCTAssertNil(loaded.tensor("optimizer.batch_normalization_1.moving_mean.m"))
        XCTAssertNotNil(loaded.tensor("optimizer.batch_normalization_1.gamma.v"))
        // The moving averages moved during training and come back exactly.
        XCTAssertNotEqual(loaded.tensor("batch_normalization_1.moving_mean")?.values, [Float](repeating: 0, count: 6))
        let (model, _, _) = try loaded.restore(path: path)
        XCTAssertEqual(model.nonTrainable.array, trainer.model.nonTrainable.array)
        XCTAssertEqual(model.evaluate(trainer.train), trainer.model.evaluate(trainer.train))
        // The stored spec uses Keras' layer and argument names.
        XCTAssertTrue(loaded.spec.json.serialized.contains(#"{"type":"conv2d","filters":6,"kernel_size":[3,3],"strides":[1,1],"padding":"same""#))
    }
}
