import Foundation
import CLISupport
import MNISTKit
import TestFixtures
import XCTest

/// Datasets with other class counts through the executables: train, evaluate
/// with the class names, resume.
final class ClassCountCLITests: XCTestCase {
    /// A Sandbox-like folder whose labels are `relabel`(synthetic label, index).
    func makeSet(_ box: Sandbox, name: String, relabel: (UInt8, Int, Bool) -> UInt8, namesFile: String? = nil) throws -> String {
        let folder = box.root.appendingPathComponent("data/\(name)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (split, count, seed) in [("train", 300, UInt64(1)), ("t10k", 60, UInt64(2))] {
            let data = syntheticDataset(count: count, seed: seed)
            try Data(IDX.encode(elementType: .uint8, dimensions: [count, 4, 4], payload: data.images))
                .write(to: folder.appendingPathComponent("\(split)-images-idx3-ubyte"))
            let labels = data.labels.enumerated().map { relabel($0.element, $0.offset, split == "train") }
            try Data(IDX.encode(elementType: .uint8, dimensions: [count], payload: labels))
                .write(to: folder.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        if let namesFile { try Data(namesFile.utf8).write(to: folder.appendingPathComponent("class_names.txt")) }
        return folder.path
    }

    func config(_ units: Int, extra: String = "") -> String {
        """
        {"name": "few", "dataset": "few", "input_shape": [4, 4],
         "layers": [{"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"},
                    {"type": "dense", "units": \(units), "activation": "softmax"}],
         "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
         "epochs": 2, "batch_size": 32\(extra)}
        """
    }

    func testThreeNamedClassesTrainEvaluateAndResume() throws {
        let box = try Sandbox()
        let data = try makeSet(box, name: "few", relabel: { label, _, _ in label % 3 }, namesFile: "circle\nsquare\ntriangle\n")
        let spec = try box.writeConfig(config(3))
        let train = try runTool("mnist-train", ["--config", spec, "--data", data, "--output", box.path("few.ckpt"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let eval = try runTool("mnist-eval", [box.path("few.ckpt"), "--data", data, "--threads", "1", "--show-errors", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        for name in ["circle", "square", "triangle"] { XCTAssertTrue(eval.stdout.contains(" \(name) "), eval.stdout) }
        XCTAssertTrue(eval.stdout.contains("(circle)") || eval.stdout.contains("(square)") || eval.stdout.contains("(triangle)"), eval.stdout)
        let json = try runTool("mnist-eval", [box.path("few.ckpt"), "--data", data, "--threads", "1", "--json"])
        guard case let .array(perClass)? = try JSONParser.parse(json.stdout)["per_class"] else { return XCTFail(json.stdout) }
        XCTAssertEqual(perClass.compactMap { if case let .string(name)? = $0["name"] { return name } else { return nil } }, ["circle", "square", "triangle"])
        let resume = try runTool("mnist-train", ["--resume", box.path("few.ckpt"), "--data", data, "--epochs", "3", "--threads", "1"])
        XCTAssertEqual(resume.status, 0, resume.stderr)
        XCTAssertTrue(resume.stdout.contains("epoch 3/3"), resume.stdout)
        // The checkpoint keeps the names and the OpenBLAS kernel it ran on.
        let checkpoint = try Checkpoint.load(path: box.path("few.ckpt"))
        XCTAssertEqual(checkpoint.classNames, ["circle", "square", "triangle"])
        XCTAssertFalse((checkpoint.blasCore ?? "").isEmpty)

        // Ten units on three classes, and a test class the training split lacks, are errors.
        let wrong = try runTool("mnist-train", ["--config", try box.writeConfig(config(10)), "--data", data, "--output", box.path("x.ckpt")])
        assertFailure(wrong, status: 65, "layers[2]: the model outputs (10,) per sample, but the dataset has 3 classes; the last layer needs 3 units")
        let gap = try makeSet(box, name: "gap", relabel: { label, _, training in training && label % 3 == 1 ? 0 : label % 3 })
        let missing = try runTool("mnist-train", ["--config", spec, "--data", gap, "--output", box.path("y.ckpt")])
        assertFailure(missing, status: 65, "t10k-labels-idx1-ubyte: label 1 at index")
    }

    func testTwentySixClassesLabelledFromOne() throws {
        let box = try Sandbox()
        let data = try makeSet(box, name: "letters", relabel: { _, index, _ in UInt8(index % 26 + 1) })
        let spec = try box.writeConfig(config(26, extra: #", "label_offset": 1"#))
        let train = try runTool("mnist-train", ["--config", spec, "--data", data, "--output", box.path("l.ckpt"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let eval = try runTool("mnist-eval", [box.path("l.ckpt"), "--data", data, "--threads", "1", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        guard case let .array(perClass)? = try JSONParser.parse(eval.stdout)["per_class"] else { return XCTFail(eval.stdout) }
        // Names are the file's label numbers, 1 to 26.
        XCTAssertEqual(perClass.first?["name"], .string("1"))
        XCTAssertEqual(perClass.last?["name"], .string("26"))
        // Without the offset, label 26 needs 27 units: the error says which.
        let noOffset = try runTool("mnist-train", ["--config", try box.writeConfig(config(26)), "--data", data, "--output", box.path("m.ckpt")])
        assertFailure(noOffset, status: 65, "the dataset has 27 classes; the last layer needs 27 units")
    }

    /// EMNIST stores images column by column; text art shows them transposed back.
    func testTransposedPixels() {
        // (2, 3, 1): rows 1 2 3 / 4 5 6 become the (3, 2) rows 1 4 / 2 5 / 3 6.
        XCTAssertEqual(transposed([1, 2, 3, 4, 5, 6], height: 2, width: 3, channels: 1), [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(transposed([1, 10, 2, 20, 3, 30, 4, 40], height: 2, width: 2, channels: 2), [1, 10, 3, 30, 2, 20, 4, 40])
    }
}
