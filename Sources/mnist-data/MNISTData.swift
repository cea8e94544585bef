import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-data",
        abstract: "Show what a dataset in any form mnist-train reads holds, or convert it to IDX files.",
        discussion: """
            The forms: a folder of the four IDX files (raw or gzip); a Keras .npz (x_train, y_train, x_test, \
            y_test); CSV in Kaggle's layout (a folder with train.csv and test.csv, or a file per split, the \
            test file given with --test-data); folders of images per class (DIR/train/<class>/*.png and \
            DIR/test/<class>/*.png, PNG, PGM or PPM). --test-data takes the test split from another place, \
            in any form. Exit codes: 0 ok, 64 bad command line, 65 bad input, 66 missing file, 73 cannot write.
            """,
        version: toolVersion,
        subcommands: [Info.self, Convert.self])

    static func main() { runAsTool() }
}

/// The data both subcommands read, and the spec settings that shape it.
struct SourceOptions: ParsableArguments {
    @Argument(help: "The dataset: a folder (IDX files, train.csv and test.csv, or train/ and test/ class folders), a Keras .npz, or a CSV file.")
    var source: String

    @Option(name: .customLong("test-data"), help: "The test split from here: a CSV file, or the test split of any form.")
    var testData: String?

    @Option(help: "A spec whose classes, label_offset, class_names, input_shape (a CSV row's shape), image_size and prepare apply.")
    var config: String?

    /// Both splits, read as mnist-train would read them, and the spec's label offset.
    func load() throws -> (train: Dataset, test: Dataset, labelOffset: Int) {
        let spec = try config.map { try ModelSpec.load(path: $0, searchDirectories: configSearchDirectories()) }
        let labels = spec.map(LabelSettings.init(spec:)) ?? LabelSettings()
        let images = spec.map(ImageSettings.init(spec:)) ?? ImageSettings()
        let (_, train, test) = try DatasetLocator(explicitPath: source, explicitTestPath: testData)
            .loadTrainAndTest([source], labels: labels, images: images)
        return (train, test, labels.labelOffset)
    }
}

extension MNISTData {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what mnist-train would read: the form, the splits, their counts and image shape, the classes and their counts.")

        @OptionGroup var options: SourceOptions

        func run() throws {
            let (train, test, _) = try options.load()
            let location = try DataLocation.detect(options.source)
            printOut("\(options.source): \(location?.format.summary ?? "")")
            if let testData = options.testData, let other = try DataLocation.detect(testData) {
                printOut("test split from \(testData): \(other.format.summary)")
            }
            let recognised = KnownDataset.named(train.name).map { $0.testSHA256 != nil && $0.testSHA256 == train.testSHA256 } ?? false
            printOut("dataset: \(train.name)" + (recognised ? " (recognised by its test split's SHA-256)" : ""))
            printOut("test split SHA-256: \(train.testSHA256 ?? "")")
            for (name, split) in [("train", train), ("test", test)] {
                printOut("\(name): \(groupedThousands(split.count)) images of \(formatShape(split.imageShape))")
            }
            printOut("classes: \(train.classCount)")
            let (trainCounts, testCounts) = (train.labelHistogram(), test.labelHistogram())
            let nameWidth = max(4, train.classNames.map(\.count).max() ?? 0)
            let rows = [("class", "name", "train", "test")]
                + (0 ..< train.classCount).map { ("\($0)", train.classNames[$0], "\(trainCounts[$0])", "\(testCounts[$0])") }
            for row in rows {
                printOut(row.0.padding(toLength: 6, withPad: " ", startingAt: 0) + row.1.padding(toLength: nameWidth + 2, withPad: " ", startingAt: 0)
                    + String(repeating: " ", count: max(0, 7 - row.2.count)) + row.2 + String(repeating: " ", count: max(0, 8 - row.3.count)) + row.3)
            }
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the dataset as a folder of four gzip IDX files and class_names.txt: the fastest form to load.")

        @OptionGroup var options: SourceOptions

        @Argument(help: "The folder to write (made if missing; its IDX files and class_names.txt are replaced).")
        var destination: String

        func run() throws {
            let (train, test, labelOffset) = try options.load()
            try IDXFolder.write(train: train, test: test, labelOffset: labelOffset, to: destination)
            printOut("\(destination): \(groupedThousands(train.count)) training and \(groupedThousands(test.count)) test images of \(formatShape(train.imageShape)), "
                + "\(train.classCount) classes (\(IDXFolder.fileNames(imageShape: train.imageShape).joined(separator: ", ")))")
        }
    }
}
