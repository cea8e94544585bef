import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Train an MNIST-style image classifier from a JSON model spec.",
        discussion: """
            Writes a checkpoint after every epoch and prints the final line \
            `test_loss: X - test_accuracy: Y` for the dataset's test split. \
            Give --config (a fresh run) or --resume (continue a checkpoint), or both. \
            Exit codes: 0 ok, 64 bad command line, 65 bad input, 66 missing file, \
            69 built for a newer processor, 70 training diverged, 73 cannot write the checkpoint, 130 interrupted by SIGINT, \
            143 by SIGTERM.
            """,
        version: toolVersion)

    @Option(help: "Model spec (JSON); this or --resume is needed. A bare name is also looked up in ./configs/, then in the installed examples.")
    var config: String?

    @Option(help: "Continue training from this checkpoint (its spec is used; --epochs is the total).")
    var resume: String?

    @Option(help: "Start a fresh run from these weights instead of random initialisation: safetensors (tensors by Keras names such as dense_1.kernel; F32, F16 or BF16), a Keras .keras file or a Keras .weights.h5.")
    var `init`: String?

    @Option(help: "The dataset, instead of the spec's name lookup: a folder of the four IDX files, of train.csv and test.csv, or of train/<class>/ and test/<class>/ images; a Keras .npz; a CSV file (with --test-data).")
    var data: String?

    @Option(name: .customLong("test-data"), help: "The test split from here: a CSV file, or the test split of any form --data takes.")
    var testData: String?

    // `.unconditional`: "--epochs -1" is a bad value to report, not a missing one.
    @Option(parsing: .unconditional, help: "Epochs in total (overrides the spec); 0 with --init saves and evaluates the given weights.")
    var epochs: Int?

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Samples per batch (overrides the spec).")
    var batchSize: Int?

    @Option(help: "Random seed for initialisation, shuffling and dropout (overrides the spec).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Threads (default: all cores); the same count gives the same results.")
    var threads: Int?

    @Option(help: "Checkpoint written after every epoch (default: the --resume checkpoint, else model.ckpt).")
    var output: String?

    @Option(help: "Write one JSON object per epoch to this file (a fresh run starts it anew, --resume appends).")
    var metrics: String?

    @Option(help: "Draw loss and accuracy per epoch, training and validation, into this SVG file, redrawn after every epoch.")
    var plot: String?

    @Option(help: "Write TensorBoard event files into DIR/train and DIR/validation as Keras' TensorBoard callback does (view them with: tensorboard --logdir DIR).")
    var tensorboard: String?

    @Option(name: .customLong("tensorboard-update-freq"), parsing: .unconditional, help: "Also log batch_loss and batch_accuracy every N batches (Keras' update_freq=N).")
    var tensorboardUpdateFreq: Int?

    @Flag(name: .customLong("tensorboard-histograms"), help: "Also log a histogram of every variable after every epoch (Keras' histogram_freq=1).")
    var tensorboardHistograms = false

    @Flag(name: .customLong("save-best"), help: "Also keep the checkpoint with the best val_accuracy (next to --output, as *.best.ckpt).")
    var saveBest = false

    @Option(help: "When training ends, write the run's figures to this JSON file: test loss and accuracy, per-class recall, seconds, peak memory, version (written whole: a run that has one has finished).")
    var result: String?

    @Option(help: "A JSON object of the settings this run tries, copied into the --result file (mnist-sweep sets it).")
    var point: String?

    @Flag(name: .customLong("continue"), help: "Safe to repeat (for schedulers): with --config, continue --output's checkpoint if there is one, and do nothing if the --result file shows the run finished.")
    var continueRun = false

    @Flag(help: "Print no progress (results and errors still print).")
    var quiet = false

    @Flag(name: .customLong("dry-run"), help: "Check the spec and the data, print the model summary, and exit.")
    var dryRun = false

    static func main() { runAsTool() }

    func validate() throws {
        if let epochs, epochs < 1, !(epochs == 0 && `init` != nil) {
            throw ValidationError("--epochs must be a positive integer (0 only with --init), received: \(epochs)")
        }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be a positive integer, received: \(batchSize)") }
        try validateThreads(threads)
        if let tensorboardUpdateFreq, tensorboardUpdateFreq < 1 {
            throw ValidationError("--tensorboard-update-freq must be a positive integer, received: \(tensorboardUpdateFreq)")
        }
        if tensorboard == nil, tensorboardUpdateFreq != nil || tensorboardHistograms {
            throw ValidationError("--\(tensorboardHistograms ? "tensorboard-histograms" : "tensorboard-update-freq") needs --tensorboard DIR")
        }
        if continueRun, config == nil || resume != nil { throw ValidationError("--continue needs --config (and continues --output's checkpoint), not --resume") }
        if point != nil, result == nil { throw ValidationError("--point is written into the --result file; give --result FILE") }
        if saveBest, resume == nil, (output ?? "model.ckpt").hasSuffix(".best.ckpt") {
            throw ValidationError("--output must not end in .best.ckpt when --save-best is set")
        }
    }

    func run() throws {
        // Here, not in validate(): a misspelled option (--confg) is reported first.
        let started = DispatchTime.now().uptimeNanoseconds
        guard config != nil || resume != nil else { throw UsageError("give --config PATH, or --resume CHECKPOINT") }
        let point = try self.point.map { text -> [(key: String, value: JSONValue)] in
            guard case let .object(members)? = try? JSONParser.parse(text) else { throw UsageError("--point: expected a JSON object of settings, received: \(text)") }
            return members
        }
        if continueRun, let result, let finished = RunResult.load(path: result) {
            if !quiet { printOut("\(result): this run has finished (test_accuracy: \(fourDecimals(finished.testAccuracy))); nothing to do") }
            return
        }
        // --continue: an interrupted run's checkpoint is continued as --resume would.
        let resume = self.resume ?? (continueRun && FileManager.default.fileExists(atPath: output ?? "model.ckpt") ? output ?? "model.ckpt" : nil)
        let workers = workerPool(threads: threads)

        let plan: TrainingPlan
        do {
            plan = try TrainingPlan(configPath: config, resumePath: resume, epochs: epochs, batchSize: batchSize, seed: seed,
                                    configSearch: configSearchDirectories(), initPath: `init`)
        } catch let error as PlanError {
            // The library's parameter names, spelled as this command's flags.
            throw UsageError("--\(error.parameter.rawValue): \(error.message)")
        }
        let spec = plan.spec
        if saveBest, spec.validationSplit == 0 {
            throw UsageError("--save-best keeps the best val_accuracy, so it needs a validation_split in the spec")
        }
        // A resumed run writes back to its own checkpoint unless told otherwise.
        let output = self.output ?? resume ?? "model.ckpt"
        // Before any data is read: a bad --output must not cost a whole epoch.
        let bestPath = output.hasSuffix(".ckpt") ? String(output.dropLast(5)) + ".best.ckpt" : output + ".best"
        for path in [output] + (saveBest ? [bestPath] : []) { try checkCheckpointPath(path) }
        if let result = self.result {
            var isFolder: ObjCBool = false
            if result.hasSuffix("/") || (FileManager.default.fileExists(atPath: result, isDirectory: &isFolder) && isFolder.boolValue) {
                throw UsageError("--result \(result): is a folder; name the result file")
            }
            let folder = (result as NSString).deletingLastPathComponent
            guard access(folder.isEmpty ? "." : folder, W_OK) == 0 else {
                throw UsageError("\(result): cannot write the result file: \(String(cString: strerror(errno)))", category: .cannotWrite)
            }
        }
        let locator = datasetLocator(data: data, testData: testData)
        // A resumed run looks for the data it was trained on; a fresh one by the spec's dataset name.
        let (directory, train, test) = try findingData(of: plan.checkpoint, path: resume) { try plan.loadData(locator) }
        if let checkpoint = plan.checkpoint, let resume, let warning = try checkDataset(of: checkpoint, path: resume, against: train, doing: "resuming on") {
            printError(warning)
        }
        let trainer = try plan.makeTrainer(train: train, workers: workers)

        if dryRun {
            printOut(summaryTable(trainer.model))
            printOut("Data: \(directory): \(trainer.trainingIndices.count) training, \(trainer.validationIndices.count) validation, \(test.count) test samples of \(formatShape(train.imageShape))")
            printOut("Spec and data are valid.")
            return
        }

        let nothingLeft = trainer.state.epochsCompleted >= spec.epochs || trainer.state.stoppedEarly
        if !quiet, spec.epochs == 0, resume == nil {
            printOut("\"\(spec.name)\" with the weights of \(`init` ?? "the initialisation"), 0 epochs: nothing to train")
        } else if !quiet, trainer.state.stoppedEarly {
            printOut("\(resume ?? output): early stopping ended this run after epoch \(trainer.state.epochsCompleted); nothing to train")
        } else if !quiet, nothingLeft {
            printOut("\(resume ?? output) already holds \(counted(trainer.state.epochsCompleted, "completed epoch")) of \(spec.epochs); nothing to train (give a larger --epochs to continue)")
        } else if !quiet {
            let resumed = trainer.state.epochsCompleted > 0 ? ", resuming after epoch \(trainer.state.epochsCompleted)" : ""
            printOut("Training \"\(spec.name)\" on \(train.name) (\(trainer.trainingIndices.count) samples"
                + (trainer.validationIndices.isEmpty ? "" : ", \(trainer.validationIndices.count) for validation")
                + ") - \(groupedThousands(trainer.model.parameterCount)) params - OpenBLAS \(BLAS.coreName), \(counted(workers.count, "thread"))\(resumed)")
        }

        // Made here: continuing a run cuts the log's records from after its checkpoint.
        let log = try tensorboard.map { directory throws(TensorBoardError) in
            try TensorBoardLog(directory: directory, updateFrequency: tensorboardUpdateFreq, histograms: tensorboardHistograms, continuing: trainer)
        }
        Interruption.install()
        trainer.shouldStop = { Interruption.received != nil }
        let terminal = standardOutputIsTerminal && !quiet
        let firstEpoch = trainer.state.epochsCompleted
        var lastDraw = 0.0
        do {
            let outputs = FitOutputs(checkpoint: output, bestCheckpoint: saveBest ? bestPath : nil, metrics: metrics, appendMetrics: resume != nil)
            try trainer.fit(writing: outputs, tensorBoard: log) { event in
                if let plot, case .epoch = event { try writePlot(trainer.state.history, title: spec.name, to: plot) }
                guard !quiet else { return }
                switch event {
                case let .batch(progress):
                    if progress.batch == 1 { lastDraw = 0 }
                    guard terminal, progress.seconds - lastDraw >= 0.1 || progress.batch == progress.batchCount else { return }
                    lastDraw = progress.seconds
                    printOut("\r" + progressLine(progress, width: terminalColumns()) + "\u{1B}[K", terminator: "")
                case let .epoch(report):
                    printOut((terminal ? "\r" : "") + epochLine(report, batchCount: trainer.batchesPerEpoch) + (terminal ? "\u{1B}[K" : ""))
                    for event in report.events { printOut(callbackLine(event)) }
                case let .savedBest(previous, accuracy, path):
                    // As Keras' ModelCheckpoint(save_best_only=True, verbose=1) says it.
                    printOut("val_accuracy improved from \(previous.map(fourDecimals) ?? "-inf") to \(fourDecimals(accuracy)), saving to \(path)")
                }
            }
        } catch let TrainingError.stopped(epoch, batch) {
            if terminal { printOut("") }
            let signal = Interruption.received ?? SIGINT
            let kept = trainer.state.epochsCompleted > firstEpoch ? output : resume
            // A command that continues the same file, on the same data, run from any folder.
            let command = (["mnist-train", "--resume", absolutePath(kept ?? ""), "--data", absolutePath(directory)]
                + (testData.map { ["--test-data", absolutePath($0)] } ?? []))
                .map(shellQuoted).joined(separator: " ")
            let saved = kept.map { "\($0) holds \(counted(trainer.state.epochsCompleted, "completed epoch")); resume with: \(command)" }
                ?? "no epoch completed, so no checkpoint was written"
            // 130 or 143, by the signal (the library's category says only "interrupted").
            printError("error: interrupted by \(Interruption.name(signal)) in epoch \(epoch)\(batch > 0 ? " after batch \(batch)" : ""); \(saved)")
            throw ExitCode(Interruption.exitStatus(signal))
        }
        if spec.epochs == 0, resume == nil {
            // Nothing to train: the given weights, saved as a checkpoint like any other.
            try Checkpoint(trainer: trainer).save(to: output)
            if !quiet { printOut("saved \(output) with the weights of \(`init` ?? "the initialisation") (0 epochs)") }
        } else if !quiet, !nothingLeft {
            printOut("saved \(output) after \(counted(trainer.state.epochsCompleted, "epoch"))")
        }

        var predictions = [Int32](repeating: 0, count: test.count)
        let result = predictions.withUnsafeMutableBufferPointer { trainer.model.evaluate(test, workers: workers, predictions: $0.baseAddress!) }
        // The final model's mistakes, once per trained run (a finished run continued with nothing to train adds none).
        if let log, !nothingLeft || (spec.epochs == 0 && resume == nil) {
            let order = (0 ..< Int32(test.count)).map { $0 }
            let png = errorsGridPNG(test, order: order, predictions: predictions, transposed: test.imagesTransposed, count: 36) { wrong, shown in
                "\(spec.name) after \(counted(trainer.state.epochsCompleted, "epoch")): \(wrong) of \(test.count) test images misclassified"
            }
            try log.writeImage("test_errors", png: png, step: max(trainer.state.epochsCompleted - 1, 0))
        }
        if let resultPath = self.result {
            let report = ClassificationReport(labels: test.labels, predictions: predictions, classCount: test.classCount)
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let figures = RunResult(point: point ?? [], seed: spec.seed, testLoss: result.loss, testAccuracy: result.accuracy,
                                    perClassRecall: (0 ..< test.classCount).map { report.recall($0) }, epochs: trainer.state.epochsCompleted,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                                    peakRSSMegabytes: Double(usage.ru_maxrss) / 1024, threads: workers.count, version: toolVersion, openBLASCore: BLAS.coreName)
            try figures.save(to: resultPath)
        }
        printOut("test_loss: \(fourDecimals(result.loss)) - test_accuracy: \(fourDecimals(result.accuracy))")
    }
}

/// Writes the curves whole (a temporary file renamed over the old), so a
/// browser never sees half a picture.
func writePlot(_ history: [EpochFigures], title: String, to path: String) throws {
    try writeOutputFile(Array(trainingCurvesSVG(history, title: title).utf8), to: path, what: "plot")
}
