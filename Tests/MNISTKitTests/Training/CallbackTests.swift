import MNISTKit
import TestFixtures
import XCTest

/// EarlyStopping and ReduceLROnPlateau decisions on given figures, against the
/// epochs keras.callbacks' code (Keras 3.15) reaches for them, worked by hand;
/// and an interrupted run with both active resuming to the same bytes.
final class CallbackTests: XCTestCase {
    func report(epoch: Int, validationLoss: Double) -> EpochReport {
        EpochReport(epoch: epoch + 1, epochs: 100, loss: 1, accuracy: 0.5,
                    validation: Evaluation(loss: validationLoss, accuracy: 0.5, samples: 10), seconds: 1, samples: 10)
    }

    /// The epoch (from 0) at which it stops, and its state then.
    func stoppingEpoch(_ callback: EarlyStopping, _ losses: [Double]) -> (Int?, EarlyStopping.State) {
        var state = EarlyStopping.State()
        for (epoch, loss) in losses.enumerated() {
            if callback.epochEnded(epoch, report: report(epoch: epoch, validationLoss: loss), state: &state, weights: { [Float(epoch)] }) {
                return (epoch, state)
            }
        }
        return (nil, state)
    }

    func testEarlyStoppingStopsWhereKerasDoes() {
        let losses = [1.0, 0.9, 0.895, 0.92, 0.85, 0.86, 0.87]
        // min_delta 0.01: 0.895 is no improvement on 0.9; after 2 such epochs it stops at epoch 3.
        let (stop, state) = stoppingEpoch(EarlyStopping(minDelta: 0.01, patience: 2, restoreBestWeights: true), losses)
        XCTAssertEqual(stop, 3)
        XCTAssertEqual(state.bestEpoch, 1)
        XCTAssertEqual(state.best, 0.9)
        XCTAssertEqual(state.bestWeights, [1])
        // Counting from epoch 2: 0.895 is the first best, 0.85 beats it, then two epochs without.
        XCTAssertEqual(stoppingEpoch(EarlyStopping(minDelta: 0.01, patience: 2, startFromEpoch: 2), losses).0, 6)
        // A baseline not yet beaten keeps the wait running even while the figure
        // improves (epochs 1 and 2): the wait reaches 4 at epoch 3, which stops.
        XCTAssertEqual(stoppingEpoch(EarlyStopping(patience: 2, baseline: 0.8), losses).0, 3)
        XCTAssertEqual(stoppingEpoch(EarlyStopping(patience: 5, baseline: 0.8), losses).0, 5)
        // Maximising accuracy: "auto" mode turns the comparison round.
        var state2 = EarlyStopping.State()
        let accuracy = EarlyStopping(monitor: .validationAccuracy, patience: 1)
        let accuracies = [0.5, 0.6, 0.55]
        let stops = accuracies.enumerated().map { epoch, value in
            accuracy.epochEnded(epoch, report: EpochReport(epoch: epoch + 1, epochs: 3, loss: 1, accuracy: 0,
                                                           validation: Evaluation(loss: 1, accuracy: value, samples: 1), seconds: 0, samples: 1),
                                state: &state2, weights: { [] })
        }
        XCTAssertEqual(stops, [false, false, true])
    }

    func testReduceLROnPlateauReducesWhereKerasDoes() {
        let callback = ReduceLROnPlateau(factor: 0.5, patience: 2, cooldown: 1, minLearningRate: 0.02)
        var state = ReduceLROnPlateau.State()
        var rate = 0.1
        var reductions = [Int: Double]()
        for epoch in 0 ..< 10 {
            if let new = callback.epochEnded(report: report(epoch: epoch, validationLoss: 1), learningRate: rate, state: &state) {
                reductions[epoch] = new
                rate = new
            }
        }
        // Waits 2 epochs, reduces, cools down 1 epoch (which counts no wait), and stops at min_lr.
        XCTAssertEqual(reductions, [2: 0.05, 4: 0.025, 6: 0.02])
    }

    func testCallbacksNeedValidationAndAConstantRate() {
        func error(_ extra: String) -> String {
            do {
                _ = try ModelSpec.parse(#"{"layers": [{"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy", \#(extra)}"#)
                return "no error"
            } catch { return error.description }
        }
        XCTAssertEqual(error(#""callbacks": [{"type": "early_stopping"}]"#),
                       "callbacks[0].monitor: val_loss needs a validation_split in the spec (or monitor loss or accuracy)")
        XCTAssertEqual(error(#""validation_split": 0.1, "optimizer": {"type": "adam", "learning_rate": {"type": "one_cycle", "max_learning_rate": 0.01, "epochs": 2}}, "callbacks": [{"type": "reduce_lr_on_plateau"}]"#),
                       "callbacks[0]: needs a constant optimizer.learning_rate, not a schedule (Keras cannot set a scheduled rate either)")
        XCTAssertEqual(error(#""callbacks": [{"type": "early_stoping", "monitor": "loss"}]"#),
                       #"callbacks[0].type: unknown callback "early_stoping"; did you mean "early_stopping"? expected one of early_stopping, reduce_lr_on_plateau"#)
        XCTAssertEqual(error(#""callbacks": [{"type": "reduce_lr_on_plateau", "monitor": "loss", "factor": 1.5}]"#),
                       "callbacks[0].factor: expected a number between 0 and 1 (Keras refuses a factor >= 1), got 1.5")
    }

    /// Schedule, plateau, early stopping with its best weights, augmentation and
    /// dropout all carry state; a run saved after epoch 2 and continued from the
    /// file must end with the same checkpoint bytes as a straight run.
    func testInterruptedRunWithCallbacksResumesToTheSameBytes() throws {
        let data = syntheticDataset(count: 160, seed: 7)
        var spec = syntheticSpec(optimizer: .sgd(learningRate: 0.05, momentum: 0.9, nesterov: false), epochs: 6)
        spec.layers.insert(try LayerSpec.parse(#"{"type": "random_translation", "height_factor": 0.2, "width_factor": 0.2, "fill_mode": "constant"}"#), at: 0)
        spec.inputShape = [4, 4]
        spec.validationSplit = 0.25
        spec.optimizer.weightDecay = 0.01
        spec.callbacks = try ModelSpec.parse(#"""
            {"layers": [{"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy", "validation_split": 0.25,
             "callbacks": [{"type": "early_stopping", "patience": 10, "restore_best_weights": true, "min_delta": 0.5},
                           {"type": "reduce_lr_on_plateau", "patience": 1, "factor": 0.5, "min_delta": 0.5}]}
            """#).callbacks
        func run(_ trainer: Trainer, until epochs: Int) throws -> [CallbackEvent] {
            var events = [CallbackEvent]()
            while trainer.state.epochsCompleted < epochs, !trainer.state.stoppedEarly { events += try trainer.runEpoch().events }
            return events
        }
        let straight = try Trainer(spec: spec, train: data)
        let events = try run(straight, until: 6)
        // The plateau callback acted, and the best weights came back at the end.
        XCTAssertTrue(events.contains { if case .reducedLearningRate = $0 { return true } else { return false } }, "\(events)")
        XCTAssertNotNil(straight.state.earlyStopping.bestWeights)

        let first = try Trainer(spec: spec, train: data)
        _ = try run(first, until: 2)
        let directory = try makeTemporaryDirectory()
        let path = directory.appendingPathComponent("half.ckpt").path
        try Checkpoint(trainer: first).save(to: path)
        let resumed = try TrainingPlan(configPath: nil, resumePath: path, epochs: 6, batchSize: nil, seed: nil).makeTrainer(train: data)
        XCTAssertEqual(resumed.optimizer.learningRate, first.optimizer.learningRate)
        _ = try run(resumed, until: 6)
        XCTAssertEqual(Checkpoint(trainer: resumed).encoded(), Checkpoint(trainer: straight).encoded())
    }
}
