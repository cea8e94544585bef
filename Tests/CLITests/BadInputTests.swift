import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The executables on damaged or wrong inputs: the documented exit status, one
/// `error:` line naming the file or option, no signal, within seconds.
final class BadInputTests: XCTestCase {
    func testCommandLineErrorsExitSixtyFour() throws {
        let box = try Sandbox()
        let cases: [([String], String)] = [
            ([], "give --config PATH, or --resume CHECKPOINT"),
            (["--config", box.config.path, "--epochs", "0"], "--epochs must be a positive integer (0 only with --init), received: 0"),
            (["--config", box.config.path, "--epochs", "-3"], "--epochs must be a positive integer (0 only with --init), received: -3"),
            (["--config", box.config.path, "--batch-size", "-1"], "--batch-size must be a positive integer, received: -1"),
            (["--config", box.config.path, "--threads", "-2"], "--threads must be from 1 to 256, received: -2"),
            (["--config", box.config.path, "--threads", "0"], "--threads must be from 1 to 256, received: 0"),
            (["--config", box.config.path, "--batch-size", "0"], "--batch-size must be a positive integer, received: 0"),
            (["--config", box.config.path, "--epochs", "many"], "many"),
            (["--config", box.config.path, "--frobnicate"], "--frobnicate"),
            // The real mistake first, even with no --config.
            (["--foo"], "Unknown option '--foo'"),
            (["--confg", "x.json"], "Unknown option '--confg'. Did you mean '--config'?"),
            (["--resum", "a.ckpt"], "Unknown option '--resum'. Did you mean '--resume'?"),
            (["help"], "Unexpected argument 'help'"),
            (["--config"], "--config"),
        ]
        for (arguments, message) in cases {
            assertFailure(try runTool("mnist-train", arguments), status: 64, message)
        }
        assertFailure(try runTool("mnist-eval", []), status: 64, "checkpoint")
        assertFailure(try runTool("mnist-eval", ["x.ckpt", "--split", "valid"]), status: 64, "valid")
        assertFailure(try runTool("mnist-eval", ["x.ckpt", "--threads", "0"]), status: 64, "--threads")
        assertFailure(try runTool("mnist-bench", ["--threads", "0"]), status: 64, "--threads must be from 1 to 256, received: 0")
        assertFailure(try runTool("mnist-bench", ["--epochs", "1"]), status: 64, "--epochs must be 2 or more, received: 1")
    }

    func testMissingFilesExitSixtySix() throws {
        let box = try Sandbox()
        assertFailure(try runTool("mnist-train", ["--config", box.path("absent.json")]), status: 66, box.path("absent.json") + ": no such file")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.path("nowhere")]), status: 66,
                      "dataset \"synthetic\" not found; looked in: \(box.path("nowhere"))")
        let noDataset = try runTool("mnist-train", ["--config", box.config.path], in: box.root.appendingPathComponent("data"))
        assertFailure(noDataset, status: 66, "looked in: data/synthetic, /usr/share/datasets/synthetic")
        try FileManager.default.removeItem(at: box.data.appendingPathComponent("t10k-labels-idx1-ubyte"))
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path]), status: 66,
                      "missing t10k-labels-idx1-ubyte[.gz]")
        assertFailure(try runTool("mnist-eval", [box.path("absent.ckpt")]), status: 66, box.path("absent.ckpt") + ": no such file")
    }

    func testBadContentsExitSixtyFive() throws {
        let box = try Sandbox()
        let typo = try box.writeConfig(Sandbox.config(epochs: 1).replacingOccurrences(of: "\"relu\"", with: "\"relux\""))
        assertFailure(try runTool("mnist-train", ["--config", typo, "--data", box.data.path]), status: 65,
                      "\(typo): layers[1].activation: unknown activation \"relux\"; expected one of relu, sigmoid, softmax, tanh, linear, leaky_relu, elu, gelu, silu, swish")
        let notJSON = try box.writeConfig("epochs = 5")
        assertFailure(try runTool("mnist-train", ["--config", notJSON]), status: 65, "\(notJSON): invalid JSON at line 1, column 1")
        let empty = try box.writeConfig("")
        assertFailure(try runTool("mnist-train", ["--config", empty]), status: 65, "\(empty): invalid JSON")
        assertFailure(try runTool("mnist-train", ["--config", box.data.path]), status: 65, "\(box.data.path): is a directory, expected a file")

        // Labels file holds 401 entries for 400 images.
        let labels = box.data.appendingPathComponent("train-labels-idx1-ubyte")
        let good = try Data(contentsOf: labels)
        try Data(IDX.encode(elementType: .uint8, dimensions: [401], payload: [UInt8](repeating: 1, count: 401))).write(to: labels)
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path]), status: 65, "401 labels for 400 images")
        // Truncated labels file.
        try good.prefix(good.count - 7).write(to: labels)
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path]), status: 65,
                      "\(labels.path): truncated IDX data: the header declares 400 bytes, found 393")
        // A zero-byte file.
        try Data().write(to: labels)
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path]), status: 65, "truncated IDX header")
        try good.write(to: labels)

        // A checkpoint that is not one, and a damaged one.
        try Data("hello".utf8).write(to: URL(fileURLWithPath: box.path("junk.ckpt")))
        assertFailure(try runTool("mnist-eval", [box.path("junk.ckpt")]), status: 65, box.path("junk.ckpt") + ": truncated")
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--epochs", "1", "--output", box.path("ok.ckpt"), "--quiet"]).status, 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: box.path("ok.ckpt")))
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: box.path("bad.ckpt")))
        assertFailure(try runTool("mnist-eval", [box.path("bad.ckpt"), "--data", box.data.path]), status: 65, "CRC-32 mismatch")
        assertFailure(try runTool("mnist-train", ["--resume", box.path("bad.ckpt"), "--data", box.data.path]), status: 65, "CRC-32 mismatch")
        assertFailure(try runTool("mnist-train", ["--resume", box.path("ok.ckpt"), "--data", box.data.path, "--seed", "9"]), status: 64,
                      "--seed: 9 differs from the checkpoint's seed 1")
    }

    func testUnwritableOutputKeepsTheError() throws {
        let box = try Sandbox()
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("no/dir/m.ckpt")]),
                      status: 73, box.path("no/dir/m.ckpt") + ": cannot write checkpoint: No such file or directory")
        // Checked before any data is read, by --dry-run too; nothing was written.
        let missingData = box.path("no-such-data")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", missingData, "--output", box.path("no/dir/m.ckpt"), "--dry-run"]),
                      status: 73, box.path("no/dir/m.ckpt") + ": cannot write checkpoint: No such file or directory")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", missingData, "--output", box.root.path + "/"]),
                      status: 64, box.root.path + "/: is a folder; name the checkpoint file, e.g. " + box.root.path + "/model.ckpt")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", missingData, "--output", box.root.path]),
                      status: 64, ": is a folder")
        let config = try Data(contentsOf: box.config)
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.config.path]),
                      status: 64, box.config.path + ": exists and is not an mnist-train checkpoint; not overwriting it; choose another path")
        XCTAssertEqual(try Data(contentsOf: box.config), config)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: box.root.path).filter { $0.hasPrefix(".mnist-train-probe") }, [])
    }

    func testDamagedDataAndHostileHeaders() throws {
        let box = try Sandbox()
        let images = box.data.appendingPathComponent("train-images-idx3-ubyte")
        let labels = box.data.appendingPathComponent("train-labels-idx1-ubyte")
        let goodImages = try Data(contentsOf: images), goodLabels = try Data(contentsOf: labels)
        let train = ["--config", box.config.path, "--data", box.data.path]
        func restore() throws {
            try goodImages.write(to: images)
            try goodLabels.write(to: labels)
        }

        // Images and labels swapped.
        try goodLabels.write(to: images)
        try goodImages.write(to: labels)
        assertFailure(try runTool("mnist-train", train), status: 65, "\(images.path): expected images of rank 3 (N, H, W) or 4 (N, H, W, C), found dimensions (400,)")
        try restore()

        // A header declaring 60000 x 10000 x 10000 pixels in a 100-byte gzip file: refused before allocating.
        try Data(gzip(IDX.encode(elementType: .uint8, dimensions: [60000, 10000, 10000], payload: [1, 2, 3]))).write(to: images)
        assertFailure(try runTool("mnist-train", train), status: 65, "more than this file can hold")
        // The same claim in a raw file.
        try Data(IDX.encode(elementType: .uint8, dimensions: [60000, 10000, 10000], payload: [1, 2, 3])).write(to: images)
        assertFailure(try runTool("mnist-train", train), status: 65, "truncated IDX data: the header declares 6000000000000 bytes, found 3")
        // Compressed twice.
        try Data(gzip(gzip(Array(goodImages)))).write(to: images)
        assertFailure(try runTool("mnist-train", train), status: 65, "a gzip file inside a gzip file")
        // Wrong magic, and float images.
        var wrongMagic = goodImages
        wrongMagic[0] = 0x50
        try wrongMagic.write(to: images)
        assertFailure(try runTool("mnist-train", train), status: 65, "not an IDX file")
        try Data(IDX.encode(elementType: .float32, dimensions: [400, 4, 4], payload: [UInt8](repeating: 0, count: 400 * 64))).write(to: images)
        assertFailure(try runTool("mnist-train", train), status: 65, "expected ubyte (0x08) image elements, found float32")
        try restore()

        // A label past the model's classes: the data has 13 classes now.
        var badLabel = goodLabels
        badLabel[badLabel.count - 1] = 12
        try badLabel.write(to: labels)
        assertFailure(try runTool("mnist-train", train), status: 65, "the dataset has 13 classes; the last layer needs 13 units")
        try restore()

        // A directory where a data file should be.
        try FileManager.default.removeItem(at: labels)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: false)
        assertFailure(try runTool("mnist-train", train), status: 66, "missing train-labels-idx1-ubyte[.gz]")
        try FileManager.default.removeItem(at: labels)
        try restore()

        // Test images of another size than the training images.
        let testImages = box.data.appendingPathComponent("t10k-images-idx3-ubyte")
        try Data(IDX.encode(elementType: .uint8, dimensions: [100, 5, 5], payload: [UInt8](repeating: 0, count: 2500))).write(to: testImages)
        assertFailure(try runTool("mnist-train", train), status: 65, "images are (5, 5, 1), but the test split's are (4, 4, 1)")
    }

    func testHostileConfigsAndOptions() throws {
        let box = try Sandbox()
        let huge = try box.writeConfig(Sandbox.config(epochs: 1).replacingOccurrences(of: "\"units\": 16", with: "\"units\": 9000000"))
        assertFailure(try runTool("mnist-train", ["--config", huge, "--data", box.data.path]), status: 65,
                      "layers[1].units: 9000000 units make the model larger than")
        let deep = try box.writeConfig(String(repeating: "[", count: 10_000))
        assertFailure(try runTool("mnist-train", ["--config", deep]), status: 65, "nested deeper than 64 levels")
        let wrongDataset = try box.writeConfig(Sandbox.config(epochs: 1).replacingOccurrences(of: "\"dataset\": \"synthetic\"", with: "\"dataset\": \"emnist\""))
        assertFailure(try runTool("mnist-train", ["--config", wrongDataset], in: box.root), status: 66, "dataset \"emnist\" not found")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--seed", "-5"]), status: 64, "--seed")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--save-best"]), status: 64, "--save-best keeps the best val_accuracy, so it needs a validation_split")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--metrics", box.root.path]), status: 73,
                      "\(box.root.path): cannot open the metrics file for writing")
        assertFailure(try runTool("mnist-eval", [box.root.path]), status: 65, "\(box.root.path): is a directory, expected a file")

        // A checkpoint of the synthetic model evaluated against 5x5 images.
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--epochs", "1", "--output", box.path("m.ckpt"), "--quiet"]).status, 0)
        let other = box.root.appendingPathComponent("five")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        for split in ["train", "t10k"] {
            try Data(IDX.encode(elementType: .uint8, dimensions: [10, 5, 5], payload: [UInt8](repeating: 0, count: 250))).write(to: other.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [10], payload: [UInt8](repeating: 0, count: 10))).write(to: other.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        assertFailure(try runTool("mnist-eval", [box.path("m.ckpt"), "--data", other.path]), status: 65,
                      box.path("m.ckpt") + ": trained on synthetic, images of (4, 4, 1) in 10 classes; five has images of (5, 5, 1) in 10 classes")
        assertFailure(try runTool("mnist-train", ["--resume", box.path("m.ckpt"), "--epochs", "0"]), status: 64, "--epochs must be a positive integer")
        XCTAssertEqual(try runTool("mnist-train", ["--resume", box.path("m.ckpt"), "--data", box.data.path, "--epochs", "2", "--output", box.path("m.ckpt"), "--quiet"]).status, 0)
        assertFailure(try runTool("mnist-train", ["--resume", box.path("m.ckpt"), "--data", box.data.path, "--epochs", "1"]), status: 64,
                      "--epochs: 1 is fewer than the 2 epochs the checkpoint has done; the epochs are counted in total, not added")
        assertFailure(try runTool("mnist-train", ["--resume", box.path("m.ckpt"), "--data", box.data.path, "--epochs", "3", "--batch-size", "x"]), status: 64, "x")
    }
}
