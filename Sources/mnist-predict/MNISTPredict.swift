import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-predict",
        abstract: "Classify your own images with a checkpoint written by mnist-train.",
        discussion: """
            Reads PNG (any colour type, 8 or 16 bits, palette, interlaced), PGM and PPM \
            (binary or ASCII). Each picture is prepared as MNIST was made: luminance, alpha \
            composited onto paper, inverted when the background is light, cropped to the ink, \
            scaled to fit 20x20 and centred by its centre of mass in 28x28. \
            An image that cannot be read is reported as one error line and the others are still \
            classified. Exit codes: 0 ok, 64 bad command line, 65 bad input (any image that \
            failed), 66 missing checkpoint.
            """,
        version: toolVersion)

    @Argument(help: "Checkpoint file.")
    var checkpoint: String

    @Argument(help: "Image files: PNG, PGM or PPM.")
    var images: [String]

    @Option(help: "How many of the most likely classes to list for each image.")
    var top = 3

    @Flag(help: "Print one JSON object per image: file, class, label, probabilities.")
    var json = false

    @Flag(name: .customLong("no-preprocess"), help: "Feed each image as it is (it must be the model's input size): luminance / 255, no inversion, cropping or centring.")
    var noPreprocess = false

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    static func main() { runAsTool() }

    func validate() throws {
        try validateThreads(threads)
        if top < 1 { throw ValidationError("--top must be 1 or more, received: \(top)") }
        if images.isEmpty { throw ValidationError("name at least one image file") }
    }

    func run() throws {
        let loaded = try Checkpoint.load(path: checkpoint)
        let classCount = loaded.classNames?.count ?? 10
        let (model, _, _) = try loaded.restore(path: checkpoint, classCount: classCount)
        let names = loaded.classNames ?? classNames(forDataset: loaded.dataset, classCount: classCount, labelOffset: loaded.spec.labelOffset)
        let (height, width) = try fieldSize(of: loaded)

        var inputs: [Float] = [], accepted: [String] = []
        var failures = 0
        for path in images {
            do {
                let image = try RGBAImage.read(path: path)
                var field: [Float]
                do {
                    field = noPreprocess ? try ImagePreprocessing.asIs(image, width: width, height: height)
                        : try ImagePreprocessing.mnistStyle(image, width: width, height: height)
                } catch {
                    throw ImageError(path: path, problem: error)
                }
                // EMNIST's models learnt from transposed images; people draw upright.
                if loaded.imagesTransposed { field = transposed(field, height: height, width: width, channels: 1) }
                inputs += field
                accepted.append(path)
            } catch {
                printError("error: \(error)")
                failures += 1
            }
        }
        // In batches, so that memory stays that of one batch however many files there are.
        let workers = workerPool(threads: threads), pixels = height * width
        var probabilities: [Float] = []
        for start in stride(from: 0, to: accepted.count, by: Model.evaluationBatchSize) {
            let rows = min(Model.evaluationBatchSize, accepted.count - start)
            probabilities += model.predict(Array(inputs[start * pixels ..< (start + rows) * pixels]), workers: workers)
        }
        for (k, path) in accepted.enumerated() {
            let row = Array(probabilities[k * classCount ..< (k + 1) * classCount])
            let ranked = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
            if json {
                printOut(JSONValue.object([("file", .string(path)), ("class", .number(Double(ranked[0]))), ("label", .string(names[ranked[0]])),
                                           ("probabilities", .array(row.map { .number(Double($0)) }))]).serialized)
            } else {
                let listed = ranked.prefix(top).map { "\(names[$0]) \(fourDecimals(Double(row[$0])))" }.joined(separator: ", ")
                printOut("\(path): \(names[ranked[0]])  (\(listed))")
            }
        }
        if failures > 0 { throw ExitCode(ExitStatus.badInput) }
    }

    /// The model's picture size: the checkpoint's image shape, else its input shape.
    func fieldSize(of loaded: Checkpoint) throws -> (height: Int, width: Int) {
        let shape = loaded.imageShape ?? loaded.spec.inputShape
        let channels = shape.count == 3 ? shape[2] : 1
        if shape.count >= 2, channels == 1 { return (shape[0], shape[1]) }
        if shape.count == 1, let side = Optional(Int(Double(shape[0]).squareRoot())), side * side == shape[0] { return (side, side) }
        throw UsageError("\(checkpoint): the model takes inputs of shape \(formatShape(shape)), not single-channel pictures",
                         category: .badInput)
    }
}
