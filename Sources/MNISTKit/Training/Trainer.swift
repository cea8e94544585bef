import Foundation

/// Everything beyond the weights and the optimizer (its step, rate and slots)
/// that decides what training does next: enough, with them, to resume exactly.
public struct TrainingState: Equatable, Sendable {
    /// Epochs finished.
    public var epochsCompleted = 0
    /// Draws each epoch's sample order.
    public var shuffleGenerator: RandomGenerator
    /// Draws dropout masks.
    public var dropoutGenerator: RandomGenerator
    /// Draws the augmentation layers' transforms.
    public var augmentationGenerator: RandomGenerator
    /// Early stopping's counters and best weights.
    public var earlyStopping = EarlyStopping.State()
    /// ReduceLROnPlateau's counters.
    public var plateau = ReduceLROnPlateau.State()
    /// Every completed epoch's figures, for curves over a resumed run too.
    public var history = [EpochFigures]()

    /// The state of a fresh run: every random stream seeded from `seed`.
    public init(seed: UInt64) {
        shuffleGenerator = RandomGenerator(seed: seed, stream: RandomStream.shuffle.rawValue)
        dropoutGenerator = RandomGenerator(seed: seed, stream: RandomStream.dropout.rawValue)
        augmentationGenerator = RandomGenerator(seed: seed, stream: RandomStream.augmentation.rawValue)
    }

    /// A state from its parts, as a checkpoint restores it.
    public init(epochsCompleted: Int, shuffleGenerator: RandomGenerator, dropoutGenerator: RandomGenerator,
                augmentationGenerator: RandomGenerator) {
        self.epochsCompleted = epochsCompleted
        self.shuffleGenerator = shuffleGenerator
        self.dropoutGenerator = dropoutGenerator
        self.augmentationGenerator = augmentationGenerator
    }

    /// Early stopping ended the run (after epoch `earlyStopping.stoppedEpoch + 1`).
    public var stoppedEarly: Bool { earlyStopping.stoppedEpoch > 0 }
}

/// One epoch's figures as Keras' History keeps them (no timings, so that a
/// resumed run's history equals a straight one's).
public struct EpochFigures: Equatable, Sendable {
    /// The 1-based epoch.
    public var epoch: Int
    /// The training loss (mean over the epoch's batches).
    public var loss: Double
    /// The training accuracy.
    public var accuracy: Double
    /// The validation loss, with a validation split.
    public var validationLoss: Double?
    /// The validation accuracy, with a validation split.
    public var validationAccuracy: Double?
    /// The learning rate at the end of the epoch.
    public var learningRate: Double

    /// An epoch's figures.
    public init(epoch: Int, loss: Double, accuracy: Double, validationLoss: Double? = nil, validationAccuracy: Double? = nil, learningRate: Double) {
        (self.epoch, self.loss, self.accuracy, self.validationLoss) = (epoch, loss, accuracy, validationLoss)
        (self.validationAccuracy, self.learningRate) = (validationAccuracy, learningRate)
    }
}

/// Independent random streams drawn from one seed.
public enum RandomStream: UInt64 {
    case initialization = 1, shuffle, dropout, validationSplit, augmentation
}

/// Where an epoch stands after a batch, for progress bars.
public struct BatchProgress: Sendable {
    /// The 1-based epoch.
    public let epoch: Int
    /// The epochs the run trains in all.
    public let epochs: Int
    /// Batches done in this epoch.
    public let batch: Int
    /// Batches in the epoch.
    public let batchCount: Int
    /// Running means over the epoch so far.
    public let loss: Double
    /// The running accuracy over the epoch so far.
    public let accuracy: Double
    /// Seconds since the epoch started.
    public let seconds: Double
}

/// What one epoch did: training figures, validation, time and the callbacks' actions.
public struct EpochReport: Equatable, Sendable {
    /// The 1-based epoch.
    public let epoch: Int
    /// The epochs the run trains in all.
    public let epochs: Int
    /// The mean training loss over the epoch.
    public let loss: Double
    /// The training accuracy over the epoch.
    public let accuracy: Double
    /// Loss and accuracy on the validation samples, with a validation split.
    public let validation: Evaluation?
    /// Seconds the epoch took, validation included.
    public let seconds: Double
    /// Training samples seen.
    public let samples: Int
    /// The optimizer's rate at the end of the epoch (before callbacks act).
    public var learningRate: Double = 0
    /// What the callbacks did after this epoch.
    public var events = [CallbackEvent]()

    /// An epoch's report.
    public init(epoch: Int, epochs: Int, loss: Double, accuracy: Double, validation: Evaluation?, seconds: Double, samples: Int,
                learningRate: Double = 0) {
        (self.epoch, self.epochs, self.loss, self.accuracy, self.validation) = (epoch, epochs, loss, accuracy, validation)
        (self.seconds, self.samples, self.learningRate) = (seconds, samples, learningRate)
    }

    /// Training throughput.
    public var samplesPerSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }

    /// One line of the `--metrics` file.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("epoch", .number(Double(epoch))), ("loss", .number(loss)), ("accuracy", .number(accuracy)),
        ]
        if let validation {
            members += [("val_loss", .number(validation.loss)), ("val_accuracy", .number(validation.accuracy))]
        }
        members += [("learning_rate", .number(learningRate)), ("seconds", .number(seconds)),
                    ("samples_per_second", .number(samplesPerSecond))]
        return .object(members)
    }
}

/// Why training ended before its last epoch.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case diverged(epoch: Int, batch: Int, loss: Double)
    case stopped(epoch: Int, batch: Int)

    /// The reason in words for an `error:` line.
    public var description: String {
        switch self {
        case let .diverged(epoch, batch, loss):
            return "training diverged: loss is \(loss) at epoch \(epoch), batch \(batch); try a lower learning_rate"
        case let .stopped(epoch, batch):
            return "training stopped at epoch \(epoch), batch \(batch)"
        }
    }
}

/// The epoch loop: shuffle, batch, forward, backward, update; then validation.
public final class Trainer {
    /// The spec being trained: the model's.
    public var spec: ModelSpec { model.spec }
    /// The model being trained.
    public let model: Model
    /// The optimizer: its step, learning rate and slots.
    public let optimizer: Optimizer
    /// Where training stands besides the optimizer: epochs, random streams, callbacks, history.
    public private(set) var state: TrainingState
    /// The training split, validation samples included.
    public let train: Dataset
    /// Training and validation samples: a seeded shuffle split, not the tail.
    public let trainingIndices: [Int32]
    /// The samples held out for validation.
    public let validationIndices: [Int32]
    private var order: [Int32]
    private let workspace: Workspace
    /// The threads every step and evaluation runs on.
    public let workers: WorkerPool
    /// The file the first weights came from (`--init`), when not our own initialisation.
    public var weightsSource: WeightsSource?
    /// Polled after every batch; returning true stops the epoch with `TrainingError.stopped`.
    public var shouldStop: () -> Bool = { false }

    /// A fresh run: weights drawn from the spec's seed.
    public convenience init(spec: ModelSpec, train: Dataset, workers: WorkerPool = .serial) throws(ConfigError) {
        let model = try Model(spec: spec, classCount: train.classCount)
        var generator = RandomGenerator(seed: spec.seed, stream: RandomStream.initialization.rawValue)
        model.initializeParameters(generator: &generator)
        try self.init(model: model, optimizer: Optimizer(spec: spec.optimizer, parameterCount: model.parameterCount),
                      state: TrainingState(seed: spec.seed), train: train, workers: workers)
    }

    /// Continues from a model, optimizer and state (a resumed checkpoint).
    public init(model: Model, optimizer: Optimizer, state: TrainingState, train: Dataset, workers: WorkerPool = .serial) throws(ConfigError) {
        let spec = model.spec
        try Trainer.checkInput(spec.inputShape, against: train.imageShape)
        self.model = model
        self.optimizer = optimizer
        self.state = state
        self.train = train
        self.workers = workers
        (trainingIndices, validationIndices) = try Trainer.split(samples: train.count, spec: spec)
        order = trainingIndices
        workspace = model.makeWorkspace(capacity: min(spec.batchSize, trainingIndices.count), training: true, threads: workers.count)
        optimizer.stepsPerEpoch = batchesPerEpoch
    }

    /// The spec's training and validation samples out of `samples`: a seeded
    /// shuffle split, not the tail (mnist-eval finds the same validation samples).
    public static func split(samples: Int, spec: ModelSpec) throws(ConfigError) -> (training: [Int32], validation: [Int32]) {
        var all = (0 ..< Int32(samples)).map { $0 }
        let validationCount = Int((Double(samples) * spec.validationSplit).rounded())
        if validationCount > 0 {
            var splitGenerator = RandomGenerator(seed: spec.seed, stream: RandomStream.validationSplit.rawValue)
            splitGenerator.shuffle(&all)
            guard validationCount < samples else {
                throw ConfigError(path: "validation_split", message: "\(spec.validationSplit) of \(samples) samples leaves none to train on")
            }
        }
        return (Array(all[validationCount...]), Array(all[..<validationCount]))
    }

    /// Input shapes that fit images (H, W, C): (H, W, C), (H, W) when C is 1, or flat (H·W·C).
    public static func checkInput(_ inputShape: [Int], against imageShape: [Int]) throws(ConfigError) {
        let fits = inputShape == imageShape
            || (imageShape.last == 1 && inputShape == Array(imageShape.dropLast()))
            || (inputShape.count == 1 && inputShape[0] == imageShape.reduce(1, *))
        guard fits else {
            throw ConfigError(path: "input_shape", message: "\(formatShape(inputShape)) does not match the dataset's images \(formatShape(imageShape))")
        }
    }

    /// Optimizer steps per epoch: the training samples in batches, the last one smaller.
    public var batchesPerEpoch: Int { (trainingIndices.count + spec.batchSize - 1) / spec.batchSize }

    /// Trains one epoch; `onBatch` sees running figures after every batch.
    public func runEpoch(onBatch: (BatchProgress) -> Void = { _ in }) throws(TrainingError) -> EpochReport {
        try withDenormalsFlushedToZero { () throws(TrainingError) in try trainEpoch(onBatch: onBatch) }
    }

    private func trainEpoch(onBatch: (BatchProgress) -> Void) throws(TrainingError) -> EpochReport {
        let epoch = state.epochsCompleted + 1
        let start = DispatchTime.now().uptimeNanoseconds
        // Shuffle the base order afresh each epoch: the shuffle generator's state
        // alone then fixes the data order, which is all a resume needs.
        order.withUnsafeMutableBufferPointer { destination in
            trainingIndices.withUnsafeBufferPointer { destination.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
        }
        if spec.shuffle { state.shuffleGenerator.shuffle(&order) }
        let batchCount = batchesPerEpoch
        var lossSum = 0.0, correct = 0, seen = 0
        for batch in 0 ..< batchCount {
            let first = batch * spec.batchSize
            let B = min(spec.batchSize, order.count - first)
            order.withUnsafeBufferPointer { all in model.gather(UnsafeBufferPointer(rebasing: all[first ..< first + B]), from: train, into: workspace, workers: workers) }
            // Two generators of one stored property: take them out for the step.
            var dropout = state.dropoutGenerator, augmentation = state.augmentationGenerator
            let score = model.trainStep(workspace, B: B, optimizer: optimizer, workers: workers, dropout: &dropout, augmentation: &augmentation)
            (state.dropoutGenerator, state.augmentationGenerator) = (dropout, augmentation)
            guard score.lossSum.isFinite else { throw .diverged(epoch: epoch, batch: batch + 1, loss: score.lossSum / Double(B)) }
            lossSum += score.lossSum
            correct += score.correct
            seen += B
            onBatch(BatchProgress(epoch: epoch, epochs: spec.epochs, batch: batch + 1, batchCount: batchCount,
                                  loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                  seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
            if batch + 1 < batchCount, shouldStop() { throw .stopped(epoch: epoch, batch: batch + 1) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let validation = validationIndices.isEmpty ? nil : model.evaluate(train, indices: validationIndices, workers: workers)
        state.epochsCompleted = epoch
        var report = EpochReport(epoch: epoch, epochs: spec.epochs, loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                 validation: validation, seconds: seconds, samples: seen, learningRate: optimizer.learningRate)
        state.history.append(EpochFigures(epoch: epoch, loss: report.loss, accuracy: report.accuracy, validationLoss: validation?.loss,
                                          validationAccuracy: validation?.accuracy, learningRate: report.learningRate))
        report.events = runCallbacks(after: report)
        return report
    }

    /// Keras' callbacks at the end of an epoch, in a fixed order; when
    /// training ends (early stop or the last epoch), the best weights come back
    /// if early stopping keeps them.
    private func runCallbacks(after report: EpochReport) -> [CallbackEvent] {
        var events = [CallbackEvent]()
        let callbacks = spec.callbacks
        if let plateau = callbacks.reduceLROnPlateau,
           let rate = plateau.epochEnded(report: report, learningRate: report.learningRate, state: &state.plateau) {
            optimizer.learningRateOverride = rate
            events.append(.reducedLearningRate(to: rate, monitor: plateau.monitor.quantity.rawValue, epochsWithoutImprovement: max(plateau.patience, 1)))
        }
        guard let early = callbacks.earlyStopping else { return events }
        let stop = early.epochEnded(report.epoch - 1, report: report, state: &state.earlyStopping) { model.allWeights }
        guard stop || report.epoch >= spec.epochs else { return events }
        var restored: Int?
        if early.restoreBestWeights, let best = state.earlyStopping.bestWeights {
            model.assignAllWeights(best)
            restored = state.earlyStopping.bestEpoch + 1
        }
        let monitor = early.monitor.quantity.rawValue
        if stop {
            events.append(.stoppedEarly(epoch: report.epoch, monitor: monitor, epochsWithoutImprovement: state.earlyStopping.wait, restoredEpoch: restored))
        } else if let restored, restored != report.epoch {
            events.append(.restoredBestWeights(epoch: restored, monitor: monitor))
        }
        return events
    }
}
