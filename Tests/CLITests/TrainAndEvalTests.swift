import CLISupport
import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// End-to-end runs of the built `mnist-train` and `mnist-eval` on small synthetic data.
final class TrainAndEvalTests: XCTestCase {
    func testTrainWritesLogCheckpointAndMetricsThenEvalAgrees() throws {
        let box = try Sandbox()
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt"),
                                            "--metrics", box.path("metrics.jsonl"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertEqual(train.stderr, "")
        let lines = train.stdout.split(separator: "\n").map(String.init)
        // Not a terminal: a header, one line per epoch, where the checkpoint went, the final test line.
        XCTAssertEqual(lines.count, 6, train.stdout)
        XCTAssertEqual(lines[4], "saved \(box.path("model.ckpt")) after 3 epochs")
        XCTAssertTrue(lines[0].hasPrefix("Training \"synthetic\" on synthetic (400 samples) - 442 params - OpenBLAS "), lines[0])
        XCTAssertTrue(lines[0].hasSuffix(", 1 thread"), lines[0])
        for epoch in 1 ... 3 {
            XCTAssertNotNil(lines[epoch].range(of: #"^epoch \#(epoch)/3  13/13 \[=+\] \d+\.\ds \d+ms/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - learning_rate: 0\.0100$"#,
                                               options: .regularExpression), lines[epoch])
        }
        XCTAssertFalse(train.stdout.contains("\r"))
        let final = lines[5]
        XCTAssertNotNil(final.range(of: #"^test_loss: \d+\.\d{4} - test_accuracy: \d\.\d{4}$"#, options: .regularExpression), final)

        let metrics = try String(contentsOfFile: box.path("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(metrics.count, 3)
        let first = try JSONParser.parse(String(metrics[0]))
        guard case let .object(members) = first else { return XCTFail("not an object") }
        XCTAssertEqual(members.map(\.key), ["epoch", "loss", "accuracy", "learning_rate", "seconds", "samples_per_second"])

        let eval = try runTool("mnist-eval", [box.path("model.ckpt"), "--data", box.data.path, "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let accuracy = final.components(separatedBy: "test_accuracy: ")[1]
        let loss = final.components(separatedBy: "test_loss: ")[1].components(separatedBy: " ")[0]
        XCTAssertTrue(eval.stdout.contains("loss: \(loss) - accuracy: \(accuracy)"), eval.stdout)
        XCTAssertTrue(eval.stdout.contains("confusion matrix"))

        assertFailure(try runTool("mnist-eval", [box.path("model.ckpt"), "--data", box.data.path, "--split", "validation"]), status: 64,
                      "--split validation: \(box.path("model.ckpt")) was trained without a validation_split; use --split train or test")
        let json = try runTool("mnist-eval", [box.path("model.ckpt"), "--data", box.data.path, "--json"])
        let report = try JSONParser.parse(json.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(report["samples"], .number(100))
        guard case let .array(rows)? = report["confusion"], case let .array(perClass)? = report["per_class"],
              case let .number(jsonAccuracy)? = report["accuracy"] else { return XCTFail(json.stdout) }
        XCTAssertEqual(rows.count, 10)
        XCTAssertEqual(perClass.count, 10)
        XCTAssertEqual(String(format: "%.4f", jsonAccuracy), accuracy)
        // Weighted recall is accuracy; macro and weighted rows in the text report too.
        guard case let .number(weightedRecall)? = report["weighted_avg"]?["recall"], case .number? = report["macro_avg"]?["f1"] else {
            return XCTFail(json.stdout)
        }
        XCTAssertEqual(weightedRecall, jsonAccuracy, accuracy: 1e-12)
        XCTAssertNotNil(eval.stdout.range(of: #"\nmacro avg +\d\.\d{4} +\d\.\d{4} +\d\.\d{4} +100\nweighted avg +\d\.\d{4} +\#(accuracy) +\d\.\d{4} +100"#,
                                          options: .regularExpression), eval.stdout)
        // The confusion matrix accounts for every sample, and its diagonal for the accuracy.
        let counts = rows.map { row -> [Int] in
            guard case let .array(cells) = row else { return [] }
            return cells.compactMap { if case let .number(n) = $0 { Int(n) } else { nil } }
        }
        XCTAssertEqual(counts.joined().reduce(0, +), 100)
        XCTAssertEqual(Double((0 ..< 10).reduce(0) { $0 + counts[$1][$1] }) / 100, jsonAccuracy, accuracy: 1e-12)
    }

    func testShowErrorsDrawsMisclassifiedImages() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 1, optimizer: #"{"type": "sgd", "learning_rate": 0.001}"#))
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("m.ckpt"), "--quiet"]).status, 0)
        let eval = try runTool("mnist-eval", [box.path("m.ckpt"), "--data", box.data.path, "--show-errors", "2"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let headers = eval.stdout.split(separator: "\n").filter { $0.hasPrefix("sample ") }
        XCTAssertEqual(headers.count, 2, eval.stdout)
        XCTAssertNotNil(headers[0].range(of: #"^sample \d+ \(0-based, in the 100-sample test file\): true \d \(\d\), predicted \d \(\d\)$"#,
                                         options: .regularExpression), String(headers[0]))
        // Every image is 4 rows of 8 shade characters (two per pixel), and the brightest pixel shows as '@@'.
        XCTAssertTrue(eval.stdout.contains("@@"))
        let art = eval.stdout.split(separator: "\n", omittingEmptySubsequences: false).drop { !$0.hasPrefix("sample ") }.dropFirst().prefix(4)
        XCTAssertEqual(art.map(\.count), [8, 8, 8, 8], eval.stdout)
    }

    /// Two characters per pixel, so a square image looks square; brighter is darker ink.
    func testTextArtByHand() {
        XCTAssertEqual(textArt(pixels: [0, 255, 128, 30], width: 2), "  @@\n++..")
    }

    func testDryRunPrintsTheKerasSummary() throws {
        let box = try Sandbox()
        let result = try runTool("mnist-train", ["--config", "dense512.json", "--dry-run", "--data", box.data.path], in: packageRoot)
        // The synthetic data is 4×4: the seed model's (28, 28) input does not fit it.
        assertFailure(result, status: 65, "input_shape: (28, 28) does not match the dataset's images (4, 4, 1)")

        let ok = try runTool("mnist-train", ["--config", box.config.path, "--dry-run", "--data", box.data.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains(" dense_1 (Dense)             (None, 16)                272"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("Total params: 442"), ok.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: box.path("model.ckpt")))
    }

    func testSeedModelSummaryOnFashionMNIST() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("/usr/share/datasets/fashion-mnist is absent; `make setup` installs it")
        }
        let result = try runTool("mnist-train", ["--config", "dense512.json", "--dry-run"], in: packageRoot)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Total params: 407,050"), result.stdout)
        XCTAssertTrue(result.stdout.contains(" dense_1 (Dense)             (None, 512)               401,920"), result.stdout)
    }

    /// keras-io's "Simple MNIST convnet": Keras' summary prints 34,826 parameters.
    func testConvnetSummary() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("/usr/share/datasets/fashion-mnist is absent; `make setup` installs it")
        }
        let result = try runTool("mnist-train", ["--config", "mnist-cnn.json", "--dry-run", "--data", "/usr/share/datasets/fashion-mnist"], in: packageRoot)
        XCTAssertEqual(result.status, 0, result.stderr)
        for row in [" conv2d_1 (Conv2D)              (None, 26, 26, 32)        320",
                    " max_pooling2d_1 (MaxPooling2D) (None, 13, 13, 32)        0",
                    " conv2d_2 (Conv2D)              (None, 11, 11, 64)        18,496",
                    " max_pooling2d_2 (MaxPooling2D) (None, 5, 5, 64)          0",
                    " flatten_1 (Flatten)            (None, 1600)              0",
                    " dropout_1 (Dropout)            (None, 1600)              0",
                    " dense_1 (Dense)                (None, 10)                16,010",
                    "Total params: 34,826", "Non-trainable params: 0"] {
            XCTAssertTrue(result.stdout.contains(row), "\(row)\n\(result.stdout)")
        }
    }

    /// A convnet with batch norm trains through the executables, and mnist-eval
    /// (its own process, the moving averages read back) agrees to the digit.
    func testConvnetTrainsAndEvalAgrees() throws {
        let box = try Sandbox(configText: """
            {"name": "cnn", "dataset": "synthetic", "input_shape": [4, 4],
             "layers": [{"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
                        {"type": "max_pooling2d"}, {"type": "batch_normalization"}, {"type": "flatten"},
                        {"type": "dense", "units": 10, "activation": "softmax"}],
             "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
             "epochs": 10, "batch_size": 32, "validation_split": 0.1}
            """)
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("cnn.ckpt")])
        XCTAssertEqual(train.status, 0, train.stderr)
        let final = train.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let accuracy = final.components(separatedBy: "test_accuracy: ").last ?? ""
        XCTAssertGreaterThan(Double(accuracy) ?? 0, 0.8, train.stdout)
        let eval = try runTool("mnist-eval", [box.path("cnn.ckpt"), "--data", box.data.path])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("accuracy: \(accuracy)"), eval.stdout)
    }

    /// The checkpoint knows its dataset: other images are an error, another
    /// dataset of the same shape a warning that names both.
    func testCheckpointKnowsItsDataset() throws {
        let box = try Sandbox()
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--epochs", "1", "--output", box.path("s.ckpt"), "--quiet"]).status, 0)
        // The same files under another name are the same data: no warning.
        let copy = box.root.appendingPathComponent("data/copy")
        try FileManager.default.copyItem(at: box.data, to: copy)
        let same = try runTool("mnist-eval", [box.path("s.ckpt"), "--data", copy.path])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertEqual(same.stderr, "")
        // Other images of the same shape: a warning naming both.
        let other = box.root.appendingPathComponent("data/other")
        try FileManager.default.copyItem(at: box.data, to: other)
        let otherTest = syntheticDataset(count: 100, seed: 9)
        try Data(IDX.encode(elementType: .uint8, dimensions: [100, 4, 4], payload: otherTest.images)).write(to: other.appendingPathComponent("t10k-images-idx3-ubyte"))
        try Data(IDX.encode(elementType: .uint8, dimensions: [100], payload: otherTest.labels)).write(to: other.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let eval = try runTool("mnist-eval", [box.path("s.ckpt"), "--data", other.path])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(eval.stderr, "warning: model trained on synthetic, evaluating on other\n")
        let resumed = try runTool("mnist-train", ["--resume", box.path("s.ckpt"), "--data", other.path, "--epochs", "2", "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(resumed.stderr, "warning: model trained on synthetic, resuming on other\n")
        // The resumed run rewrote the checkpoint: it now records the data it last trained on.
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else { return }
        assertFailure(try runTool("mnist-eval", [box.path("s.ckpt"), "--data", "/usr/share/datasets/fashion-mnist"]), status: 65,
                      box.path("s.ckpt") + ": trained on other, images of (4, 4, 1) in 10 classes; fashion-mnist has images of (28, 28, 1) in 10 classes")
    }

    /// What the data is comes from the files read, not the spec's dataset
    /// name: a spec naming none (so fashion-mnist by default) trained on a
    /// folder of digits records that folder, its class names are the labels,
    /// and mnist-eval finds it again by the folder's name or says which folder
    /// to pass. A folder labelled from 1 trains with label_offset 1.
    func testDataIdentityComesFromTheFilesRead() throws {
        let box = try Sandbox()
        let config = box.root.appendingPathComponent("nodataset.json")
        try Data(Sandbox.config(epochs: 1).replacingOccurrences(of: #""dataset": "synthetic", "#, with: "").utf8).write(to: config)
        let train = try runTool("mnist-train", ["--config", config.path, "--data", box.data.path, "--output", box.path("n.ckpt")])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("on synthetic ("), train.stdout)
        let checkpoint = try Checkpoint.load(path: box.path("n.ckpt"))
        XCTAssertEqual(checkpoint.spec.dataset, "fashion-mnist")
        XCTAssertEqual(checkpoint.dataset, "synthetic")
        XCTAssertEqual(checkpoint.datasetFolder, "synthetic")
        XCTAssertEqual(checkpoint.classNames, (0 ..< 10).map(String.init))
        // The digest of the test split's image bytes, then its label bytes, by sha256sum.
        let payloads = box.root.appendingPathComponent("payloads")
        let test = syntheticDataset(count: 100, seed: 2)
        try Data(test.images + test.labels).write(to: payloads)
        let digest = try runProcess(["sha256sum", payloads.path]).output.prefix(64)
        XCTAssertEqual(checkpoint.datasetSHA256, String(digest))

        let eval = try runTool("mnist-eval", [box.path("n.ckpt"), "--data", box.data.path])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(eval.stderr, "")
        XCTAssertFalse(eval.stdout.contains("T-shirt"), eval.stdout)
        XCTAssertTrue(eval.stdout.contains("test split of synthetic"), eval.stdout)
        // Without --data: found by the folder's name under data/ here; from elsewhere, the folder to pass.
        XCTAssertEqual(try runTool("mnist-eval", [box.path("n.ckpt")], in: box.root, environment: ["MNIST_DATA_DIR": ""]).status, 0)
        let elsewhere = box.root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let lost = try runTool("mnist-eval", [box.path("n.ckpt")], in: elsewhere, environment: ["MNIST_DATA_DIR": ""])
        assertFailure(lost, status: 66, "dataset \"synthetic\" not found; looked in: data/synthetic, /usr/share/datasets/synthetic; \(box.path("n.ckpt")) was trained on the folder \"synthetic\", test split SHA-256 \(digest.prefix(12))...: pass that data as --data PATH")

        // Labels counted from 1, with label_offset and no dataset named: trains.
        let fromOne = box.root.appendingPathComponent("from-one")
        try FileManager.default.createDirectory(at: fromOne, withIntermediateDirectories: true)
        for (split, count, seed) in [("train", 200, UInt64(1)), ("t10k", 50, UInt64(2))] {
            let set = syntheticDataset(count: count, seed: seed)
            try Data(IDX.encode(elementType: .uint8, dimensions: [count, 4, 4], payload: set.images)).write(to: fromOne.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [count], payload: set.labels.map { $0 + 1 })).write(to: fromOne.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        let offsetConfig = box.root.appendingPathComponent("offset.json")
        try Data(Sandbox.config(epochs: 1, extra: #", "label_offset": 1"#).replacingOccurrences(of: #""dataset": "synthetic", "#, with: "").utf8).write(to: offsetConfig)
        let offset = try runTool("mnist-train", ["--config", offsetConfig.path, "--data", fromOne.path, "--output", box.path("o.ckpt"), "--quiet"])
        XCTAssertEqual(offset.status, 0, offset.stderr)
        XCTAssertEqual(try Checkpoint.load(path: box.path("o.ckpt")).classNames, (1 ... 10).map(String.init))
    }

    /// A spec that does not fit the data names the config file first, as every spec error does.
    func testSpecErrorsAgainstTheDataNameTheConfig() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 1).replacingOccurrences(of: #""units": 10"#, with: #""units": 12"#))
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("x.ckpt")]), status: 65,
                      box.config.path + ": layers[2]: the model outputs (12,) per sample, but the dataset has 10 classes; the last layer needs 10 units")
    }

    /// Files asked for are written even when the reader of stdout stops early.
    func testErrorsImageIsWrittenWhenStdoutClosesEarly() throws {
        let box = try Sandbox()
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--epochs", "1", "--output", box.path("s.ckpt"), "--quiet"]).status, 0)
        let tool = productsDirectory.appendingPathComponent("mnist-eval").path
        // `true` exits without reading: every line the report writes meets a closed pipe.
        let piped = try runProcess(["bash", "-c", "set -o pipefail; \"$0\" \"$1\" --data \"$2\" --errors-image \"$3\" | true",
                                    tool, box.path("s.ckpt"), box.data.path, box.path("grid.png")])
        XCTAssertEqual(piped.status, 0, piped.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: box.path("grid.png")), piped.output)
        let png = try Data(contentsOf: URL(fileURLWithPath: box.path("grid.png")))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    func testResumeContinuesToTheTotalEpochs() throws {
        let box = try Sandbox()
        let args = ["--data", box.data.path, "--threads", "1", "--quiet"]
        let metrics = ["--metrics", box.path("a.jsonl")]
        // A metrics file from an earlier run is started afresh, then continued by the resume.
        try Data("{\"epoch\":9}\n".utf8).write(to: URL(fileURLWithPath: box.path("a.jsonl")))
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--epochs", "1", "--output", box.path("a.ckpt")] + args + metrics).status, 0)
        let one = try runTool("mnist-eval", [box.path("a.ckpt"), "--data", box.data.path])
        XCTAssertTrue(one.stdout.contains("\"synthetic\" after 1 epoch, test split"), one.stdout)
        let resumed = try runTool("mnist-train", ["--resume", box.path("a.ckpt"), "--epochs", "3", "--output", box.path("a.ckpt"), "--data", box.data.path, "--threads", "1"] + metrics)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        // Without --output a resume writes back to the checkpoint it resumed from.
        let more = try runTool("mnist-train", ["--resume", box.path("a.ckpt"), "--epochs", "4", "--data", box.data.path, "--threads", "1", "--quiet"], in: box.root)
        XCTAssertEqual(more.status, 0, more.stderr)
        XCTAssertEqual(try Checkpoint.load(path: box.path("a.ckpt")).state.epochsCompleted, 4)
        let done = try runTool("mnist-train", ["--resume", box.path("a.ckpt"), "--data", box.data.path])
        XCTAssertEqual(done.status, 0, done.stderr)
        XCTAssertTrue(done.stdout.hasPrefix("\(box.path("a.ckpt")) already holds 4 completed epochs of 4; nothing to train (give a larger --epochs to continue)\ntest_loss: "), done.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: box.path("model.ckpt")))
        let epochs = try String(contentsOfFile: box.path("a.jsonl"), encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0))["epoch"] }
        XCTAssertEqual(epochs, [.number(1), .number(2), .number(3)])
        XCTAssertTrue(resumed.stdout.contains("resuming after epoch 1"), resumed.stdout)
        XCTAssertFalse(resumed.stdout.contains("epoch 1/3"))
        XCTAssertTrue(resumed.stdout.contains("epoch 2/3"))
        XCTAssertTrue(resumed.stdout.contains("epoch 3/3"))
        let straight = try runTool("mnist-train", ["--config", box.config.path, "--epochs", "4", "--output", box.path("b.ckpt")] + args)
        XCTAssertEqual(straight.status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: box.path("a.ckpt"))), try Data(contentsOf: URL(fileURLWithPath: box.path("b.ckpt"))))
        let other = box.path("other.json")
        try Data(Sandbox.config(epochs: 3).replacingOccurrences(of: "\"units\": 16", with: "\"units\": 32").utf8).write(to: URL(fileURLWithPath: other))
        assertFailure(try runTool("mnist-train", ["--resume", box.path("a.ckpt"), "--config", other] + args), status: 65,
                      "describes a different model than the checkpoint")
    }

    func testValidationSplitAndSaveBest() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 2, extra: #", "validation_split": 0.2"#))
        let result = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("v.ckpt"),
                                             "--save-best", "--metrics", box.path("m.jsonl")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("(320 samples, 80 for validation)"), result.stdout)
        XCTAssertNotNil(result.stdout.range(of: #"val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}"#, options: .regularExpression))
        XCTAssertTrue(FileManager.default.fileExists(atPath: box.path("v.best.ckpt")))
        // mnist-eval finds the checkpoint's own validation samples: its last epoch's val_accuracy.
        let lastEpoch = try JSONParser.parse(String(try String(contentsOfFile: box.path("m.jsonl"), encoding: .utf8).split(separator: "\n").last!))
        let validation = try runTool("mnist-eval", [box.path("v.ckpt"), "--data", box.data.path, "--split", "validation", "--json"])
        XCTAssertEqual(validation.status, 0, validation.stderr)
        let evaluated = try JSONParser.parse(validation.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(evaluated["samples"], .number(80))
        XCTAssertEqual(evaluated["accuracy"], lastEpoch["val_accuracy"])
        let train = try runTool("mnist-eval", [box.path("v.ckpt"), "--data", box.data.path, "--split", "train"])
        XCTAssertTrue(train.stdout.contains("train split of synthetic (400 samples, the 80 validation samples included)"), train.stdout)
        // Keras' ModelCheckpoint words: from -inf the first time, then only on improvement.
        let improvements = result.stdout.split(separator: "\n").filter { $0.hasPrefix("val_accuracy improved from ") }
        XCTAssertTrue(improvements.first?.hasPrefix("val_accuracy improved from -inf to ") ?? false, result.stdout)
        XCTAssertTrue(improvements.allSatisfy { $0.hasSuffix(", saving to \(box.path("v.best.ckpt"))") }, result.stdout)
        let first = try JSONParser.parse(String(try String(contentsOfFile: box.path("m.jsonl"), encoding: .utf8).split(separator: "\n")[0]))
        XCTAssertNotNil(first["val_accuracy"])
    }

    func testDivergenceExitsSeventyAndKeepsTheLastCheckpoint() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 2, optimizer: #"{"type": "sgd", "learning_rate": 1e30}"#))
        let result = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("d.ckpt")])
        assertFailure(result, status: 70, "training diverged: loss is")
        XCTAssertTrue(result.stderr.contains("try a lower learning_rate"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: box.path("d.ckpt")))
    }

    /// The README is a map of what exists: a usage line for every command
    /// (one folder each under Sources/, as Package.swift lists them), and its
    /// example spec is configs/dense512.json.
    func testReadmeCoversEveryCommandAndItsSpecIsReal() throws {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let commands = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("Sources").path).filter { $0.hasPrefix("mnist-") }
        XCTAssertEqual(commands.count, 7)
        let manifest = try String(contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        for command in commands {
            XCTAssertTrue(readme.contains("\n\(command) "), "no usage line for \(command)")
            XCTAssertTrue(readme.contains("**\(command)**"), "\(command) is not described")
            XCTAssertTrue(manifest.contains("\"\(command)\""), "Package.swift does not list \(command)")
        }
        guard let start = readme.range(of: "```json\n"), let end = readme.range(of: "```", range: start.upperBound ..< readme.endIndex) else {
            return XCTFail("README.md has no spec example")
        }
        let example = try ModelSpec.parse(String(readme[start.upperBound ..< end.lowerBound]))
        XCTAssertEqual(example, try ModelSpec.load(path: packageRoot.appendingPathComponent("configs/dense512.json").path))
    }

    /// The README's exit code table lists the codes `--help` lists.
    func testReadmeExitCodesMatchTheHelp() throws {
        let help = try runTool("mnist-train", ["--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
        let listed = (help.components(separatedBy: "Exit codes:").last ?? "").components(separatedBy: "USAGE:").first ?? ""
        let helpCodes = Set(listed.matches(of: /(\d+) [a-z]/).map { Int($0.1)! })
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let table = readme.components(separatedBy: "### Exit codes and errors").last ?? ""
        let readmeCodes = Set(table.split(separator: "\n").prefix { !$0.hasPrefix("Every failure") }
            .filter { $0.hasPrefix("| ") }.flatMap { $0.split(separator: "|").first!.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } })
        XCTAssertEqual(helpCodes, [0, 64, 65, 66, 69, 70, 73, 130, 143], help)
        XCTAssertEqual(readmeCodes, helpCodes)
    }

    func testHelpAndVersion() throws {
        let help = try runTool("mnist-train", ["--help"])
        XCTAssertEqual(help.status, 0)
        for flag in ["--config", "--resume", "--data", "--epochs", "--batch-size", "--seed", "--threads", "--output", "--metrics", "--quiet", "--dry-run", "--save-best"] {
            XCTAssertTrue(help.stdout.contains(flag), "help lacks \(flag)")
        }
        let evalHelp = try runTool("mnist-eval", ["--help"])
        for flag in ["--data", "--split", "--json", "--threads", "--show-errors"] { XCTAssertTrue(evalHelp.stdout.contains(flag), "help lacks \(flag)") }
        XCTAssertTrue(help.stdout.contains("this or --resume is needed"), help.stdout)
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(words.contains("130 interrupted by SIGINT, 143 by SIGTERM"), help.stdout)
        for tool in ["mnist-train", "mnist-eval", "mnist-bench"] {
            XCTAssertEqual(try runTool(tool, ["--version"]).stdout, toolVersion + "\n", tool)
        }
    }
}

/// `make install` puts the tools and the example configs under a prefix, and
/// `--config NAME` finds them there from any folder.
final class InstallTests: XCTestCase {
    func testInstalledToolsFindTheExampleConfigsFromAnyFolder() throws {
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("/usr/share/datasets/fashion-mnist is absent; `make setup` installs it")
        }
        let box = try Sandbox()
        let prefix = box.root.appendingPathComponent("prefix"), elsewhere = box.root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        // install-files is `make install` without the build: it installs the tools under test.
        let install = try runProcess(["/usr/bin/make", "-C", packageRoot.path, "install-files", "PREFIX=\(prefix.path)", "BIN=\(productsDirectory.path)"], in: elsewhere)
        XCTAssertEqual(install.status, 0, install.output)
        for file in ["bin/mnist-train", "bin/mnist-eval", "bin/mnist-bench", "bin/mnist-export", "bin/mnist-predict", "share/mnist-train/configs/dense512.json", "share/mnist-train/configs/mnist-cnn.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path), file)
        }
        let tool = prefix.appendingPathComponent("bin/mnist-train").path
        let found = try runProcess([tool, "--config", "mnist-cnn.json", "--dry-run", "--data", "/usr/share/datasets/fashion-mnist"], in: elsewhere)
        XCTAssertEqual(found.status, 0, found.output)
        XCTAssertTrue(found.output.contains("Total params: 34,826"), found.output)
        let missing = try runProcess([tool, "--config", "nosuch.json"], in: elsewhere)
        XCTAssertEqual(missing.status, 66)
        XCTAssertEqual(missing.output, "error: nosuch.json: no such file; looked in: nosuch.json, configs/nosuch.json, \(prefix.path)/share/mnist-train/configs/nosuch.json\n")
    }
}
