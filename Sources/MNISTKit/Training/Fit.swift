import Foundation

// `Trainer.fit`: everything mnist-train does around the epochs, as library API.
// The built-in callbacks run in Keras' order after each epoch: the spec's own
// (reduce_lr_on_plateau, early_stopping), then TensorBoard's records, the
// checkpoint, the best-model checkpoint and the metrics line. The caller hears about each through
// `FitEvent`s and decides what to print.

/// Files `fit` keeps up to date; each is optional.
public struct FitOutputs: Sendable {
    /// Written atomically after every epoch (Keras' ModelCheckpoint).
    public var checkpoint: String?
    /// Also written when val_accuracy improves (ModelCheckpoint with save_best_only).
    public var bestCheckpoint: String?
    /// One JSON object per epoch (Keras' CSVLogger, as JSON lines).
    public var metrics: String?
    /// Continue the metrics file (a resumed run) instead of starting it anew.
    public var appendMetrics = false

    /// The files `fit` writes; nil leaves one out.
    public init(checkpoint: String? = nil, bestCheckpoint: String? = nil, metrics: String? = nil, appendMetrics: Bool = false) {
        (self.checkpoint, self.bestCheckpoint, self.metrics, self.appendMetrics) = (checkpoint, bestCheckpoint, metrics, appendMetrics)
    }
}

/// What `fit` reports while it runs.
public enum FitEvent: Sendable {
    /// After every batch: the epoch's running figures.
    case batch(BatchProgress)
    /// After every epoch, callbacks included (`report.events`).
    case epoch(EpochReport)
    /// The best checkpoint was written: val_accuracy rose from `previous` (nil: the first).
    case savedBest(previous: Double?, accuracy: Double, path: String)
}

/// A metrics file that cannot be opened or written.
public struct FitError: Error, Equatable, CustomStringConvertible {
    /// The file that could not be written.
    public let path: String
    /// The system's reason.
    public let message: String
    /// "<path>: <message>".
    public var description: String { "\(path): \(message)" }
}

extension Trainer {
    /// Trains from the current epoch to `spec.epochs` (or until early stopping
    /// ends the run), keeping `outputs` up to date after every epoch. Throws
    /// `TrainingError.stopped` when `shouldStop` asks (the last completed
    /// epoch's checkpoint stays), `.diverged` on a non-finite loss,
    /// `CheckpointError` or `FitError` when a file cannot be written, and
    /// whatever `onEvent` throws (from a batch event, once the epoch ends).
    /// `tensorBoard`, when given, gets Keras' TensorBoard records after every
    /// batch and epoch, synced before the epoch's checkpoint is written.
    public func fit(writing outputs: FitOutputs = FitOutputs(), tensorBoard: TensorBoardLog? = nil,
                    onEvent: (FitEvent) throws -> Void = { _ in }) throws {
        var metricsFile: FileHandle?
        if let path = outputs.metrics {
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let handle = FileHandle(forWritingAtPath: path) else { throw FitError(path: path, message: "cannot open the metrics file for writing") }
            if outputs.appendMetrics { handle.seekToEndOfFile() } else { handle.truncateFile(atOffset: 0) }
            metricsFile = handle
        }
        defer { try? metricsFile?.close() }
        var bestAccuracy: Double?
        while state.epochsCompleted < spec.epochs, !state.stoppedEarly {
            if shouldStop() { throw TrainingError.stopped(epoch: state.epochsCompleted + 1, batch: 0) }
            var batchFailure: Error?
            let report = try runEpoch { progress in
                guard batchFailure == nil else { return }
                do {
                    try tensorBoard?.batchEnded(progress, batchesPerEpoch: batchesPerEpoch)
                    try onEvent(.batch(progress))
                } catch { batchFailure = error }
            }
            if let batchFailure { throw batchFailure }
            try tensorBoard?.epochEnded(report, model: model, batchesPerEpoch: batchesPerEpoch)
            try onEvent(.epoch(report))
            let checkpoint = Checkpoint(trainer: self)
            if let path = outputs.checkpoint { try checkpoint.save(to: path) }
            if let path = outputs.bestCheckpoint, let validation = report.validation, validation.accuracy > (bestAccuracy ?? -1) {
                try checkpoint.save(to: path)
                try onEvent(.savedBest(previous: bestAccuracy, accuracy: validation.accuracy, path: path))
                bestAccuracy = validation.accuracy
            }
            if let metricsFile, let path = outputs.metrics {
                do { try metricsFile.write(contentsOf: Data((report.json.serialized + "\n").utf8)) } catch {
                    throw FitError(path: path, message: "cannot write metrics: \(error.localizedDescription)")
                }
            }
        }
    }
}
