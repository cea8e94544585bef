import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The dataset, not the code, decides the classes: counts from the labels or
/// the spec, label offsets, names from the spec, a names file or a known
/// dataset, and the errors for data that disagrees.
final class ClassCountTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Writes a dataset folder: 2x2 images, the given labels per split.
    func writeSet(_ name: String, train: [UInt8], test: [UInt8], prefix: String = "", namesFile: String? = nil) throws -> String {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (split, labels) in [("train", train), ("t10k", test)] {
            try Data(IDX.encode(elementType: .uint8, dimensions: [labels.count, 2, 2], payload: (0 ..< labels.count * 4).map { UInt8($0 % 251) }))
                .write(to: folder.appendingPathComponent("\(prefix)\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [labels.count], payload: labels))
                .write(to: folder.appendingPathComponent("\(prefix)\(split)-labels-idx1-ubyte"))
        }
        if let namesFile { try Data(namesFile.utf8).write(to: folder.appendingPathComponent("class_names.txt")) }
        return folder.path
    }

    func load(_ folder: String, name: String = "custom", _ labels: LabelSettings = LabelSettings()) throws -> (train: Dataset, test: Dataset) {
        let (_, train, test) = try DatasetLocator(explicitPath: folder).loadTrainAndTest([name], labels: labels)
        return (train, test)
    }

    func testThreeClassesFromTheLabels() throws {
        let (train, test) = try load(try writeSet("three", train: [0, 1, 2, 1, 0], test: [2, 0]))
        XCTAssertEqual(train.classCount, 3)
        XCTAssertEqual(test.classCount, 3)
        XCTAssertEqual(train.classNames, ["0", "1", "2"])
        // The spec's `classes` may add classes the files do not use (yet).
        XCTAssertEqual(try load(try writeSet("five", train: [0, 1, 2], test: [1]), LabelSettings(classes: 5)).train.classCount, 5)
    }

    func testLettersCountedFromOneWithAnOffset() throws {
        let labels = (1 ... 26).map(UInt8.init)
        let folder = try writeSet("letters", train: labels, test: [26, 1], prefix: "emnist-letters-")
        let (train, test) = try load(folder, name: "emnist-letters", LabelSettings(labelOffset: 1))
        XCTAssertEqual(train.classCount, 26)
        XCTAssertEqual(Array(train.labels.prefix(3)), [0, 1, 2])
        XCTAssertEqual(test.labels, [25, 0])
        XCTAssertEqual(train.classNames.first, "A")
        XCTAssertEqual(train.classNames.last, "Z")
        XCTAssertTrue(train.imagesTransposed)
        // Without the offset nothing is guessed: the known dataset's first label is named.
        XCTAssertThrowsError(try load(folder, name: "emnist-letters")) {
            XCTAssertEqual("\($0)", #"label_offset: \#(folder) holds emnist-letters, which labels its first class 1, so the spec needs "label_offset": 1 (it has 0)"#)
        }
        // An unknown set labelled from 1 with the offset: the names are the file's numbers.
        let custom = try load(try writeSet("from1", train: [1, 2, 3], test: [3]), LabelSettings(labelOffset: 1)).train
        XCTAssertEqual(custom.classNames, ["1", "2", "3"])
        XCTAssertThrowsError(try load(try writeSet("zero", train: [1, 0, 3], test: [3]), LabelSettings(labelOffset: 1))) {
            XCTAssertTrue("\($0)".hasSuffix("train-labels-idx1-ubyte: label 0 at index 1 is below the spec's label_offset 1"), "\($0)")
        }
    }

    func testFortySevenClassesNamedByAFile() throws {
        let names = (0 ..< 47).map { "class \($0)" }
        let labels = (0 ..< 94).map { UInt8($0 % 47) }
        let (train, _) = try load(try writeSet("named", train: labels, test: [46, 0], namesFile: names.joined(separator: "\n") + "\n"))
        XCTAssertEqual(train.classCount, 47)
        XCTAssertEqual(train.classNames, names)
        // The spec's names win over the file's; a wrong count names where the names came from.
        let spec = (0 ..< 47).map { "n\($0)" }
        XCTAssertEqual(try load(try writeSet("named2", train: labels, test: [1], namesFile: names.joined(separator: "\n")), LabelSettings(classNames: spec)).train.classNames, spec)
        let short = try writeSet("short", train: labels, test: [1], namesFile: "a\nb\n")
        XCTAssertThrowsError(try load(short)) { XCTAssertEqual("\($0)", "\(short)/class_names.txt: 2 class names for 47 classes; give one name per class") }
        XCTAssertThrowsError(try load(try writeSet("spec", train: [0, 1, 2], test: [1]), LabelSettings(classNames: ["a", "b"]))) {
            XCTAssertEqual("\($0)", "class_names: 2 class names for 3 classes; give one name per class")
        }
        // Known datasets keep their names: EMNIST balanced's 47.
        XCTAssertEqual(classNames(forDataset: "emnist-balanced", classCount: 47).suffix(4), ["n", "q", "r", "t"])
        XCTAssertEqual(classNames(forDataset: "kmnist").first, "o")
    }

    func testDataThatDisagreesIsAnError() throws {
        let unseen = try writeSet("unseen", train: [0, 2, 2], test: [1, 2])
        XCTAssertThrowsError(try load(unseen)) {
            XCTAssertEqual("\($0)", "\(unseen)/t10k-labels-idx1-ubyte: label 1 at index 0 is a class the training split \(unseen)/train-labels-idx1-ubyte never has")
        }
        let beyond = try writeSet("beyond", train: [0, 1, 2], test: [3])
        XCTAssertThrowsError(try load(beyond)) { XCTAssertEqual("\($0)", "\(beyond)/t10k-labels-idx1-ubyte: label 3 at index 0 is outside 0..<3") }
        XCTAssertThrowsError(try load(try writeSet("few", train: [0, 1, 7], test: [1]), LabelSettings(classes: 4))) {
            XCTAssertTrue("\($0)".hasSuffix("train-labels-idx1-ubyte: label 7 at index 2 is outside 0..<4"), "\($0)")
        }
        // A last layer of 10 units on 3 classes.
        var spec = ModelSpec(layers: [.flatten, .dense(units: 10, activation: .softmax)], loss: .categoricalCrossentropy)
        spec.inputShape = [2, 2]
        XCTAssertThrowsError(try Model(spec: spec, classCount: 3)) {
            XCTAssertEqual("\($0)", "layers[1]: the model outputs (10,) per sample, but the dataset has 3 classes; the last layer needs 3 units")
        }
        XCTAssertThrowsError(try ModelSpec.parse(#"{"layers": [{"type": "dense", "units": 3, "activation": "softmax"}], "loss": "categorical_crossentropy", "classes": 3, "class_names": ["a", "b"]}"#)) {
            XCTAssertEqual("\($0)", #"class_names: has 2 names for the 3 classes of "classes""#)
        }
    }
}
