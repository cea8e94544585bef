import MNISTKit
import TestFixtures
import XCTest

final class TrainerTests: XCTestCase {
    func testTinyEndToEndTrainingLearns() throws {
        let data = syntheticDataset(count: 400, seed: 1)
        var spec = syntheticSpec(optimizer: .rmsprop(learningRate: 0.01, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false), epochs: 6)
        spec.validationSplit = 0.25
        let trainer = try Trainer(spec: spec, train: data)
        let before = trainer.model.evaluate(data, indices: trainer.validationIndices)
        var reports = [EpochReport]()
        var progress = [BatchProgress]()
        while trainer.state.epochsCompleted < spec.epochs { reports.append(try trainer.runEpoch { progress.append($0) }) }
        XCTAssertLessThan(reports.last!.loss, reports.first!.loss * 0.5, "training loss must fall: \(reports.map(\.loss))")
        XCTAssertGreaterThan(reports.last!.validation!.accuracy, 0.9)
        XCTAssertLessThan(reports.last!.validation!.loss, before.loss)
        // 300 training samples in batches of 32: nine full batches and a last one of 12.
        XCTAssertEqual(trainer.batchesPerEpoch, 10)
        XCTAssertEqual(reports[0].samples, 300)
        XCTAssertEqual(progress.filter { $0.epoch == 1 }.map(\.batch), Array(1 ... 10))
        XCTAssertEqual(trainer.optimizer.step, 60)
    }

    func testValidationSplitIsASeededShuffleNotTheTail() throws {
        let data = syntheticDataset(count: 200, seed: 2)
        var spec = syntheticSpec()
        spec.validationSplit = 0.1
        let trainer = try Trainer(spec: spec, train: data)
        XCTAssertEqual(trainer.validationIndices.count, 20)
        XCTAssertEqual(Set(trainer.validationIndices + trainer.trainingIndices), Set(0 ..< 200))
        XCTAssertNotEqual(Set(trainer.validationIndices), Set(180 ..< 200))
        XCTAssertEqual(try Trainer(spec: spec, train: data).validationIndices, trainer.validationIndices)
    }

    func testSameSeedGivesSameWeightsAndAnotherSeedDoesNot() throws {
        let data = syntheticDataset(count: 150, seed: 3)
        func train(seed: UInt64, threads: Int = 1) throws -> [Float] {
            var spec = syntheticSpec(epochs: 2)
            spec.seed = seed
            let trainer = try Trainer(spec: spec, train: data, workers: WorkerPool(count: threads))
            while trainer.state.epochsCompleted < spec.epochs { _ = try trainer.runEpoch() }
            return trainer.model.parameters.array
        }
        let first = try train(seed: 5)
        XCTAssertEqual(first, try train(seed: 5))
        XCTAssertNotEqual(first, try train(seed: 6))
        let twoThreads = try train(seed: 5, threads: 2)
        XCTAssertEqual(twoThreads, try train(seed: 5, threads: 2))
        assertClose(twoThreads, first, tolerance: 1e-4, "two threads against one")
    }

    func testNonFiniteLossStopsWithTheEpochAndBatch() throws {
        let data = syntheticDataset(count: 100, seed: 4)
        let spec = syntheticSpec(optimizer: .sgd(learningRate: 1e30, momentum: 0, nesterov: false))
        let trainer = try Trainer(spec: spec, train: data)
        XCTAssertThrowsError(try trainer.runEpoch()) { error in
            guard case let .diverged(epoch, batch, _) = error as? TrainingError else { return XCTFail("\(error)") }
            XCTAssertEqual(epoch, 1)
            XCTAssertGreaterThan(batch, 1)
            XCTAssertTrue("\(error)".contains("try a lower learning_rate"))
        }
    }

    func testInputShapeMustFitTheImages() throws {
        var spec = syntheticSpec()
        spec.inputShape = [5, 5]
        spec.layers[1] = .dense(units: 16, activation: .relu, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros)
        XCTAssertThrowsError(try Trainer(spec: spec, train: syntheticDataset(count: 10, seed: 1))) {
            XCTAssertEqual("\($0)", "input_shape: (5, 5) does not match the dataset's images (4, 4, 1)")
        }
        XCTAssertNoThrow(try Trainer.checkInput([16], against: [4, 4, 1]))
        XCTAssertNoThrow(try Trainer.checkInput([4, 4, 1], against: [4, 4, 1]))
    }

    /// `fit` as a library user calls it: checkpoint, best checkpoint and metrics
    /// after every epoch; stopped after epoch 1 and resumed from its file, it
    /// ends with the bytes of a straight run.
    func testFitKeepsItsFilesAndResumesExactly() throws {
        let data = syntheticDataset(count: 120, seed: 8)
        var spec = syntheticSpec(epochs: 3)
        spec.validationSplit = 0.25
        let folder = try makeTemporaryDirectory()
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        let straight = try Trainer(spec: spec, train: data)
        var epochs = 0, batches = 0, bests = [Double]()
        try straight.fit(writing: FitOutputs(checkpoint: path("straight.ckpt"), bestCheckpoint: path("best.ckpt"), metrics: path("m.jsonl"))) {
            switch $0 {
            case .epoch: epochs += 1
            case .batch: batches += 1
            case let .savedBest(_, accuracy, _): bests.append(accuracy)
            }
        }
        XCTAssertEqual(epochs, 3)
        XCTAssertEqual(batches, 3 * straight.batchesPerEpoch)
        XCTAssertFalse(bests.isEmpty)
        XCTAssertEqual(bests, bests.sorted())
        XCTAssertEqual(try String(contentsOfFile: path("m.jsonl"), encoding: .utf8).split(separator: "\n").count, 3)
        XCTAssertEqual(try Checkpoint.load(path: path("straight.ckpt")).state.epochsCompleted, 3)

        let interrupted = try Trainer(spec: spec, train: data)
        var finished = 0
        interrupted.shouldStop = { finished >= 1 }
        XCTAssertThrowsError(try interrupted.fit(writing: FitOutputs(checkpoint: path("resumed.ckpt"))) { if case .epoch = $0 { finished += 1 } }) {
            XCTAssertEqual($0 as? TrainingError, .stopped(epoch: 2, batch: 0))
        }
        XCTAssertEqual(try Checkpoint.load(path: path("resumed.ckpt")).state.epochsCompleted, 1)
        let resumed = try TrainingPlan(configPath: nil, resumePath: path("resumed.ckpt"), epochs: nil, batchSize: nil, seed: nil).makeTrainer(train: data)
        try resumed.fit(writing: FitOutputs(checkpoint: path("resumed.ckpt")))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.ckpt"))), try Data(contentsOf: URL(fileURLWithPath: path("straight.ckpt"))))
    }

    func testClassificationReportByHand() {
        let report = ClassificationReport(labels: [0, 0, 1, 1, 2], predictions: [0, 1, 1, 1, 0], classCount: 3)
        XCTAssertEqual(report.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
        XCTAssertEqual(report.accuracy, 0.6)
        XCTAssertEqual(report.precision(0), 0.5)
        XCTAssertEqual(report.recall(1), 1)
        XCTAssertEqual(report.precision(2), 0)
        // By hand: F1 per class 0.5, 0.8 (P 2/3, R 1), 0; supports 2, 2, 1.
        XCTAssertEqual(report.f1(1), 0.8, accuracy: 1e-12)
        XCTAssertEqual(report.f1(2), 0)
        let macro = report.macroAverage, weighted = report.weightedAverage
        XCTAssertEqual(macro.precision, (0.5 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(macro.recall, 0.5, accuracy: 1e-12)
        XCTAssertEqual(macro.f1, 1.3 / 3, accuracy: 1e-12)
        XCTAssertEqual(weighted.precision, (0.5 * 2 + 2.0 / 3 * 2) / 5, accuracy: 1e-12)
        XCTAssertEqual(weighted.recall, 0.6, accuracy: 1e-12)
        XCTAssertEqual(weighted.f1, 0.52, accuracy: 1e-12)
    }
}
