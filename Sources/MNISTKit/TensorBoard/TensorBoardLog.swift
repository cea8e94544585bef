import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf

// Keras' TensorBoard callback, as event files: `DIR/train/` gets
// `epoch_loss`, `epoch_accuracy` and `epoch_learning_rate` at step = the
// 0-based epoch, `batch_loss` and `batch_accuracy` (the epoch's running means)
// every `updateFrequency` batches at step = the batch counted over the run,
// and `<layer>/<variable>/histogram` per epoch; `DIR/validation/` gets
// `epoch_loss`, `epoch_accuracy` and `evaluation_*_vs_iterations`, as Keras
// names them. Scalars, histograms and images are TensorBoard's classic
// summaries (`simple_value`, `HistogramProto`, `Summary.Image`), which its
// readers and its UI take as they are.

/// A TensorBoard log that cannot be written or trimmed.
public struct TensorBoardError: MNISTKitError, Equatable {
    /// The file or folder.
    public let path: String
    /// What went wrong, with the system's reason.
    public let message: String
    public var category: ErrorCategory { .cannotWrite }
    public var description: String { "\(path): \(message)" }
}

/// Keras' two run folders under the log folder.
public enum TensorBoardRun: String, CaseIterable, Sendable {
    case train, validation
}

/// Event files under a log folder, written the way Keras' `TensorBoard` callback writes them.
public final class TensorBoardLog {
    /// The log folder (`--tensorboard DIR`).
    public let directory: String
    /// Batch-level scalars every this many batches; nil: only per epoch (Keras' `update_freq="epoch"`).
    public let updateFrequency: Int?
    /// A histogram of every variable after every epoch (Keras' `histogram_freq=1`).
    public let histograms: Bool
    private var files = [TensorBoardRun: Int32]()
    private var paths = [TensorBoardRun: String]()

    /// A log for `trainer`'s run. When the run resumes (epochs completed > 0),
    /// records in the folder's event files past its checkpoint (epoch-level
    /// steps from its epoch count, batch-level steps after its last batch) are
    /// cut off first, since the resumed run writes them again: the steps
    /// continue without duplicates. The train folder is made here, the files on first write.
    public init(directory: String, updateFrequency: Int? = nil, histograms: Bool = false, continuing trainer: Trainer) throws(TensorBoardError) {
        precondition(updateFrequency.map { $0 > 0 } ?? true, "update frequency must be positive")
        (self.directory, self.updateFrequency, self.histograms) = (directory, updateFrequency, histograms)
        let epochs = trainer.state.epochsCompleted
        if epochs > 0 { try trimAfter(epochs: epochs, batches: epochs * trainer.batchesPerEpoch) }
        // Now, so that a log folder that cannot be made is found before any training.
        try makeFolder(for: .train)
    }

    deinit { for descriptor in files.values { close(descriptor) } }

    /// The file being written for `run`, once something was.
    public func eventFile(_ run: TensorBoardRun) -> String? { paths[run] }

    // MARK: Keras' callback

    /// `on_train_batch_end`: the running figures every `updateFrequency` batches.
    func batchEnded(_ progress: BatchProgress, batchesPerEpoch: Int) throws(TensorBoardError) {
        guard let updateFrequency else { return }
        let step = (progress.epoch - 1) * batchesPerEpoch + progress.batch
        guard step % updateFrequency == 0 else { return }
        try write([scalar("batch_loss", progress.loss), scalar("batch_accuracy", progress.accuracy)], step: step, to: .train)
    }

    /// `on_epoch_end` (and `on_test_end` for the validation figures); the files are synced, so the
    /// checkpoint written next never covers an epoch whose records could still be lost.
    func epochEnded(_ report: EpochReport, model: Model, batchesPerEpoch: Int) throws(TensorBoardError) {
        let step = report.epoch - 1
        if let validation = report.validation {
            let iterations = report.epoch * batchesPerEpoch
            try write([scalar("evaluation_loss_vs_iterations", validation.loss),
                       scalar("evaluation_accuracy_vs_iterations", validation.accuracy)], step: iterations, to: .validation)
            try write([scalar("epoch_loss", validation.loss), scalar("epoch_accuracy", validation.accuracy)], step: step, to: .validation)
        }
        try write([scalar("epoch_loss", report.loss), scalar("epoch_accuracy", report.accuracy),
                   scalar("epoch_learning_rate", report.learningRate)], step: step, to: .train)
        if histograms {
            let values = model.variables.map { variable in
                let buffer = model.buffer(of: variable)
                let pointer = UnsafeBufferPointer<Float>(start: buffer.pointer + variable.offset, count: variable.count)
                return histogram(variable.name.replacingOccurrences(of: ".", with: "/") + "/histogram", pointer)
            }
            try write(values, step: step, to: .train)
        }
        try flush()
    }

    /// A PNG as an image summary in `run` (its size read from the PNG's header).
    public func writeImage(_ tag: String, png: [UInt8], step: Int, to run: TensorBoardRun = .train) throws(TensorBoardError) {
        var image = Tensorboard_Summary.Image()
        // The IHDR chunk follows the 8-byte signature: length, type, then width and height (big-endian).
        func bigEndian(_ offset: Int) -> Int32 { png[offset ..< offset + 4].reduce(0) { $0 << 8 | Int32($1) } }
        precondition(png.count >= 24, "not a PNG")
        (image.width, image.height) = (bigEndian(16), bigEndian(20))
        image.colorspace = png[25] == 6 ? 4 : png[25] == 2 ? 3 : 1
        image.encodedImageString = Data(png)
        var value = Tensorboard_Summary.Value()
        value.tag = tag
        value.image = image
        try write([value], step: step, to: run)
        try flush()
    }

    /// Makes everything written so far durable.
    public func flush() throws(TensorBoardError) {
        for (run, descriptor) in files where fsync(descriptor) != 0 {
            throw TensorBoardError(path: paths[run]!, message: "cannot write the event file: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Summaries

    func scalar(_ tag: String, _ value: Double) -> Tensorboard_Summary.Value {
        var summary = Tensorboard_Summary.Value()
        summary.tag = tag
        summary.simpleValue = Float(value)
        return summary
    }

    /// A histogram of `values` with 30 buckets of equal width from the least
    /// value to the greatest (±0.5 around a single value), each value in the
    /// bucket `numpy.histogram(values, bins=30)` puts it in. Non-finite values are left out.
    func histogram(_ tag: String, _ values: UnsafeBufferPointer<Float>) -> Tensorboard_Summary.Value {
        var histogram = Tensorboard_HistogramProto()
        let finite = values.filter(\.isFinite).map(Double.init)
        if var low = finite.min(), var high = finite.max() {
            histogram.min = low
            histogram.max = high
            if low == high { (low, high) = (low - 0.5, high + 0.5) }
            let bucketCount = 30
            // numpy's edges (linspace) and its assignment: scaled index, then corrected against the edges.
            let step = (high - low) / Double(bucketCount)
            let edges = (0 ... bucketCount).map { $0 == bucketCount ? high : Double($0) * step + low }
            let scale = Double(bucketCount) / (high - low)
            var counts = [Double](repeating: 0, count: bucketCount)
            for value in finite {
                var index = min(Int((value - low) * scale), bucketCount - 1)
                if value < edges[index] { index -= 1 }
                if index != bucketCount - 1, value >= edges[index + 1] { index += 1 }
                counts[index] += 1
            }
            histogram.num = Double(finite.count)
            histogram.sum = finite.reduce(0, +)
            histogram.sumSquares = finite.reduce(0) { $0 + $1 * $1 }
            histogram.bucketLimit = Array(edges.dropFirst())
            histogram.bucket = counts
        }
        var summary = Tensorboard_Summary.Value()
        summary.tag = tag
        summary.histo = histogram
        return summary
    }

    // MARK: Files

    private func write(_ values: [Tensorboard_Summary.Value], step: Int, to run: TensorBoardRun) throws(TensorBoardError) {
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        event.summary.value = values
        try append(event, to: run)
    }

    private func append(_ event: Tensorboard_Event, to run: TensorBoardRun) throws(TensorBoardError) {
        let descriptor = try file(for: run)
        let bytes: [UInt8]
        do { bytes = TFRecord.frame(try event.serializedBytes()) } catch {
            preconditionFailure("an Event always serializes: \(error)")
        }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                throw TensorBoardError(path: paths[run]!, message: "cannot write the event file: \(String(cString: strerror(errno)))")
            }
            written += count
        }
    }

    @discardableResult
    private func makeFolder(for run: TensorBoardRun) throws(TensorBoardError) -> String {
        let folder = (directory as NSString).appendingPathComponent(run.rawValue)
        if let reason = makeFolders(folder) { throw TensorBoardError(path: folder, message: "cannot make the log folder: \(reason)") }
        return folder
    }

    /// The run's event file, made on first use with TensorFlow's name
    /// (`events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`) and its first record, the file version.
    private func file(for run: TensorBoardRun) throws(TensorBoardError) -> Int32 {
        if let descriptor = files[run] { return descriptor }
        let folder = try makeFolder(for: run)
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        var number = 0
        while true {
            let path = (folder as NSString).appendingPathComponent("events.out.tfevents.\(Int(now)).\(host).\(getpid()).\(number).v2")
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            if descriptor < 0, errno == EEXIST {
                number += 1
                continue
            }
            guard descriptor >= 0 else {
                throw TensorBoardError(path: path, message: "cannot make the event file: \(String(cString: strerror(errno)))")
            }
            (files[run], paths[run]) = (descriptor, path)
            break
        }
        var first = Tensorboard_Event()
        first.wallTime = now
        first.fileVersion = "brain.Event:2"
        first.sourceMetadata.writer = "mnist-train"
        try append(first, to: run)
        return files[run]!
    }

    /// Cuts every event file of both runs at its first record from after the
    /// resumed checkpoint: epoch-level steps from `epochs`, batch-level steps
    /// (`batch_*`, `*_vs_iterations`) after `batches`. A file that ends in a
    /// damaged record is cut there too; nothing before the cut changes.
    private func trimAfter(epochs: Int, batches: Int) throws(TensorBoardError) {
        func isPast(_ event: Tensorboard_Event) -> Bool {
            guard case .summary? = event.what else { return false }
            let batchLevel = event.summary.value.contains { $0.tag.hasPrefix("batch_") || $0.tag.hasSuffix("_vs_iterations") }
            return batchLevel ? event.step > Int64(batches) : event.step >= Int64(epochs)
        }
        for run in TensorBoardRun.allCases {
            let folder = (directory as NSString).appendingPathComponent(run.rawValue)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("events.out.tfevents.") }
            for name in names.sorted() {
                let path = (folder as NSString).appendingPathComponent(name)
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw TensorBoardError(path: path, message: "cannot read the event file to continue it")
                }
                let bytes = [UInt8](contents)
                var keep = 0
                for record in TFRecord.records(in: bytes) {
                    guard let event = try? Tensorboard_Event(serializedBytes: Array(record.data)), !isPast(event) else { break }
                    keep = record.end
                }
                guard keep < bytes.count else { continue }
                guard truncate(path, off_t(keep)) == 0 else {
                    throw TensorBoardError(path: path, message: "cannot cut the records after the checkpoint: \(String(cString: strerror(errno)))")
                }
            }
        }
    }
}
