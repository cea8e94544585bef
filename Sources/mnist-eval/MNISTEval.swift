import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-eval",
        abstract: "Evaluate a checkpoint written by mnist-train.",
        discussion: """
            Rebuilds the model from the checkpoint's own spec and evaluates a split of \
            its dataset: loss, accuracy, confusion matrix, per-class precision and recall. \
            Exit codes: 0 ok, 64 bad command line, 65 bad input, 66 missing file.
            """,
        version: toolVersion)

    enum Split: String, ExpressibleByArgument, CaseIterable { case test, train, validation }

    @Argument(help: "Checkpoint file.")
    var checkpoint: String

    @Option(help: "The data to evaluate on (default: the checkpoint's, looked up by name): a folder of IDX files, of CSV files or of class folders; a Keras .npz; a CSV file holding the split.")
    var data: String?

    @Option(help: "Which split to evaluate: test, train (all of it, the validation samples included), or validation (the samples the checkpoint's validation_split held out).")
    var split: Split = .test

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    @Option(help: "Threads (default: all cores); the same count gives the same results.")
    var threads: Int?

    @Option(name: .customLong("show-errors"), help: "Draw the first K misclassified images as text, with their 0-based index in the file.")
    var showErrors = 0

    @Option(name: .customLong("errors-image"), help: "Write a PNG grid of the first misclassified images, each captioned true -> predicted.")
    var errorsImage: String?

    @Option(name: .customLong("errors-image-count"), help: "How many misclassified images the --errors-image grid shows.")
    var errorsImageCount = 36

    @Option(name: .customLong("min-accuracy"), help: "A CI gate: after the report, exit 1 with one line when the accuracy is below this.")
    var minAccuracy: Double?

    static func main() { runAsTool() }

    func validate() throws {
        try validateThreads(threads)
        if showErrors < 0 { throw ValidationError("--show-errors must be 0 or more, received: \(showErrors)") }
        if let minAccuracy, !(0 ... 1).contains(minAccuracy) { throw ValidationError("--min-accuracy must be from 0 to 1, received: \(minAccuracy)") }
        if !(1 ... 10_000).contains(errorsImageCount) { throw ValidationError("--errors-image-count must be 1 to 10000, received: \(errorsImageCount)") }
    }

    func run() throws {
        let workers = workerPool(threads: threads)
        let loaded = try Checkpoint.load(path: checkpoint)
        let locator = datasetLocator(data: data)
        // The checkpoint's classes: its count and names, and the spec's label offset.
        let settings = LabelSettings(classes: loaded.classNames?.count, labelOffset: loaded.spec.labelOffset, classNames: loaded.classNames)
        let dataset = try findingData(of: loaded, path: checkpoint) {
            try locator.load(loaded.datasetLookupNames, split: split == .test ? .test : .train, labels: settings, images: ImageSettings(spec: loaded.spec))
        }
        if let warning = try checkDataset(of: loaded, path: checkpoint, against: dataset, doing: "evaluating on") {
            printError(warning)
        }
        try Trainer.checkInput(loaded.spec.inputShape, against: dataset.imageShape)
        let (model, _, _) = try loaded.restore(path: checkpoint, classCount: dataset.classCount)

        // The validation samples are the checkpoint's own: the same seeded split training made.
        var samples: [Int32]?
        if split == .validation {
            guard loaded.spec.validationSplit > 0 else {
                throw UsageError("--split validation: \(checkpoint) was trained without a validation_split; use --split train or test")
            }
            samples = try Trainer.split(samples: dataset.count, spec: loaded.spec).validation
        }
        let order = samples ?? (0 ..< Int32(dataset.count)).map { $0 }
        var predictions = [Int32](repeating: 0, count: order.count)
        let evaluation = predictions.withUnsafeMutableBufferPointer {
            model.evaluate(dataset, indices: samples, workers: workers, predictions: $0.baseAddress!)
        }
        let labels = order.map { dataset.labels[Int($0)] }
        let report = ClassificationReport(labels: labels, predictions: predictions, classCount: dataset.classCount)
        let names = dataset.classNames

        if json {
            let perClass = (0 ..< dataset.classCount).map { c -> JSONValue in
                .object([("class", .number(Double(c))), ("name", .string(names[c])),
                         ("precision", .number(report.precision(c))), ("recall", .number(report.recall(c))),
                         ("f1", .number(report.f1(c))), ("support", .number(Double(report.support(c))))])
            }
            func averages(_ a: ClassificationReport.Averages) -> JSONValue {
                .object([("precision", .number(a.precision)), ("recall", .number(a.recall)), ("f1", .number(a.f1))])
            }
            let object = JSONValue.object([
                ("loss", .number(evaluation.loss)), ("accuracy", .number(evaluation.accuracy)),
                ("samples", .number(Double(evaluation.samples))),
                ("confusion", .array(report.confusion.map { .array($0.map { .number(Double($0)) }) })),
                ("per_class", .array(perClass)),
                ("macro_avg", averages(report.macroAverage)), ("weighted_avg", averages(report.weightedAverage)),
            ])
            printOut(object.serialized)
        } else {
            let heldOut = Int((Double(dataset.count) * loaded.spec.validationSplit).rounded())
            let included = split == .train && heldOut > 0 ? ", the \(heldOut) validation samples included" : ""
            printOut("\(checkpoint): \"\(loaded.spec.name)\" after \(counted(loaded.state.epochsCompleted, "epoch")), \(split.rawValue) split of \(dataset.name) (\(order.count) samples\(included))")
            printOut("loss: \(fourDecimals(evaluation.loss)) - accuracy: \(fourDecimals(evaluation.accuracy))")
            printOut("")
            printOut(confusionTable(report, names: names))
            printOut("")
            printOut(averagesTable(report))
        }

        let transposes = loaded.imagesTransposed || dataset.imagesTransposed
        if let errorsImage {
            let png = errorsGridPNG(dataset, order: order, predictions: predictions, transposed: transposes, count: errorsImageCount) { wrong, shown in
                "\(loaded.spec.name): \(wrong) of \(order.count) \(split.rawValue) images misclassified, the first \(shown) shown"
            }
            try writeOutputFile(png, to: errorsImage, what: "errors image")
        }

        var shown = 0
        for k in order.indices where shown < showErrors && Int32(labels[k]) != predictions[k] {
            shown += 1
            let index = Int(order[k]), label = Int(labels[k]), predicted = Int(predictions[k])
            printOut("\nsample \(index) (0-based, in the \(dataset.count)-sample \(split == .test ? "test" : "training") file): true \(label) (\(names[label])), predicted \(predicted) (\(names[predicted]))")
            printOut(textArt(pixels: uprightPixels(dataset, index, transposed: transposes)[...], width: dataset.imageShape[transposes ? 0 : 1] * dataset.imageShape[2]))
        }
        if let minAccuracy, evaluation.accuracy < minAccuracy {
            printError("error: \(checkpoint): \(split.rawValue) accuracy \(fourDecimals(evaluation.accuracy)) is below --min-accuracy \(minAccuracy)")
            throw ExitCode(1)
        }
    }

    /// scikit-learn's classification_report summary rows.
    func averagesTable(_ report: ClassificationReport) -> String {
        func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        func row(_ name: String, _ a: ClassificationReport.Averages) -> String {
            name.padding(toLength: 13, withPad: " ", startingAt: 0) + pad(fourDecimals(a.precision), 10) + pad(fourDecimals(a.recall), 8)
                + pad(fourDecimals(a.f1), 10) + pad(String(report.samples), 9)
        }
        return [String(repeating: " ", count: 13) + pad("precision", 10) + pad("recall", 8) + pad("f1-score", 10) + pad("support", 9),
                row("macro avg", report.macroAverage), row("weighted avg", report.weightedAverage)].joined(separator: "\n")
    }

    /// Rows are true classes, columns predictions; then precision and recall per class.
    func confusionTable(_ report: ClassificationReport, names: [String]) -> String {
        let nameWidth = max(names.map(\.count).max() ?? 0, 5)
        let cell = max(5, String(report.samples).count + 1)
        func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        var lines = ["confusion matrix (rows: true class, columns: predicted class)"]
        lines.append(String(repeating: " ", count: nameWidth + 5) + names.indices.map { pad(String($0), cell) }.joined() + pad("precision", 11) + pad("recall", 8))
        for (c, row) in report.confusion.enumerated() {
            let label = pad(String(c), 2) + " " + names[c].padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
            lines.append(label + row.map { pad(String($0), cell) }.joined() + pad(fourDecimals(report.precision(c)), 11) + pad(fourDecimals(report.recall(c)), 8))
        }
        return lines.joined(separator: "\n")
    }
}
