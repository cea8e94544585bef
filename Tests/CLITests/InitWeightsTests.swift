import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// `mnist-train --init`: weights from a file, a run comparable step by step
/// with a naive computation, the errors, and the export round trip.
final class InitWeightsTests: XCTestCase {
    let spec = """
        {"name": "tiny", "dataset": "synthetic", "input_shape": [4, 4],
         "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}],
         "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.5},
         "epochs": 1, "batch_size": 32, "shuffle": false}
        """

    func writeWeights(_ tensors: [SafetensorsFile.Tensor], to path: String) throws {
        try SafetensorsFile(tensors: tensors).save(to: path)
    }

    /// Two SGD steps on batches in file order from given weights, against the
    /// same steps worked in Double by a naive loop: softmax, (p - y) / B, W -= η xᵀ dz.
    func testStepsMatchANaiveLoop() throws {
        let box = try Sandbox(trainCount: 64, testCount: 20, configText: spec)
        var generator = RandomGenerator(seed: 42)
        var w = (0 ..< 160).map { _ in Double(generator.nextUnitFloat() - 0.5) }, b = (0 ..< 10).map { _ in Double(generator.nextUnitFloat() - 0.5) }
        try writeWeights([.init(name: "dense_1.kernel", shape: [16, 10], values: w.map(Float.init)),
                          .init(name: "dense_1.bias", shape: [10], values: b.map(Float.init))], to: box.path("start.safetensors"))
        let run = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", box.path("start.safetensors"),
                                              "--output", box.path("tiny.ckpt"), "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)

        let data = syntheticDataset(count: 64, seed: 1)
        for batch in 0 ..< 2 {
            var dw = [Double](repeating: 0, count: 160), db = [Double](repeating: 0, count: 10)
            for r in batch * 32 ..< batch * 32 + 32 {
                let x: [Double] = (0 ..< 16).map { (i: Int) -> Double in Double(data.images[r * 16 + i]) / 255 }
                var z = b
                for o in 0 ..< 10 { for i in 0 ..< 16 { z[o] += x[i] * w[i * 10 + o] } }
                let largest = z.max()!
                let e: [Double] = z.map { exp($0 - largest) }
                let sum = e.reduce(0, +)
                for o in 0 ..< 10 {
                    let dz = (e[o] / sum - (Int(data.labels[r]) == o ? 1 : 0)) / 32
                    db[o] += dz
                    for i in 0 ..< 16 { dw[i * 10 + o] += x[i] * dz }
                }
            }
            for k in 0 ..< 160 { w[k] -= 0.5 * dw[k] }
            for o in 0 ..< 10 { b[o] -= 0.5 * db[o] }
        }
        let checkpoint = try Checkpoint.load(path: box.path("tiny.ckpt"))
        let kernel = try XCTUnwrap(checkpoint.tensor("dense_1.kernel")).values, bias = try XCTUnwrap(checkpoint.tensor("dense_1.bias")).values
        for k in 0 ..< 160 { XCTAssertEqual(Double(kernel[k]), w[k], accuracy: 1e-5, "kernel \(k)") }
        for o in 0 ..< 10 { XCTAssertEqual(Double(bias[o]), b[o], accuracy: 1e-5, "bias \(o)") }
        // Step counting starts at 0, and the checkpoint names the file it started from.
        XCTAssertEqual(checkpoint.step, 2)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: box.path("start.safetensors"))))
        XCTAssertEqual(checkpoint.weightsSource, WeightsSource(file: "start.safetensors", sha256: sha256Hex(bytes)))
    }

    func testWrongTensorsAreErrorsNamingThem() throws {
        let box = try Sandbox(trainCount: 64, testCount: 20, configText: spec)
        func attempt(_ tensors: [SafetensorsFile.Tensor]) throws -> ToolResult {
            try writeWeights(tensors, to: box.path("w.safetensors"))
            return try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", box.path("w.safetensors"),
                                               "--output", box.path("x.ckpt")])
        }
        let kernel = SafetensorsFile.Tensor(name: "dense_1.kernel", shape: [16, 10], values: [Float](repeating: 0, count: 160))
        let bias = SafetensorsFile.Tensor(name: "dense_1.bias", shape: [10], values: [Float](repeating: 0, count: 10))
        assertFailure(try attempt([kernel]), status: 65, "missing tensor dense_1.bias, shape (10,), which the spec's layers need")
        assertFailure(try attempt([.init(name: "dense_1.kernel", shape: [10, 16], values: kernel.values), bias]), status: 65,
                      "tensor dense_1.kernel has shape (10, 16), but the spec's layer needs (16, 10)")
        assertFailure(try attempt([kernel, bias, .init(name: "dense_2.bias", shape: [3], values: [0, 0, 0])]), status: 65,
                      "unexpected tensor dense_2.bias, shape (3,)")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", box.path("none.safetensors")]),
                      status: 66, "none.safetensors: no such file")
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--epochs", "0"]), status: 64, "0 only with --init")
    }

    /// Export a trained checkpoint's weights, start a 0-epoch run from them:
    /// the same test figures as mnist-eval gives the original, to the last digit.
    func testExportedWeightsRoundTrip() throws {
        let box = try Sandbox()
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("a.ckpt"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let export = try runTool("mnist-export", [box.path("a.ckpt"), "--weights", box.path("a.safetensors")])
        XCTAssertEqual(export.status, 0, export.stderr)
        let weights = try SafetensorsFile.load(path: box.path("a.safetensors"))
        XCTAssertEqual(weights.tensors.map(\.name), ["dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias"])
        XCTAssertNotNil(weights.metadata("spec"))
        let again = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", box.path("a.safetensors"),
                                                "--epochs", "0", "--output", box.path("b.ckpt"), "--threads", "1"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let eval = try runTool("mnist-eval", [box.path("a.ckpt"), "--data", box.data.path, "--threads", "1"])
        let accuracy = eval.stdout.split(separator: "\n")[1]  // loss: X - accuracy: Y
        XCTAssertEqual(again.stdout.split(separator: "\n").last.map(String.init), "test_" + accuracy.replacingOccurrences(of: " - accuracy", with: " - test_accuracy"))
        let evalB = try runTool("mnist-eval", [box.path("b.ckpt"), "--data", box.data.path, "--threads", "1"])
        XCTAssertEqual(evalB.stdout.split(separator: "\n")[1], accuracy)

        // Exporting again replaces its own weights file, never another file.
        XCTAssertEqual(try runTool("mnist-export", [box.path("a.ckpt"), "--weights", box.path("a.safetensors")]).status, 0)
        let clobber = try runTool("mnist-export", [box.path("a.ckpt"), "--weights", box.config.path])
        assertFailure(clobber, status: 64, "\(box.config.path): exists and is not a weights file written by mnist-export")
        XCTAssertEqual(weights.metadata("format"), "mnist-train-weights")
    }

    /// `--init` from Keras' files: the every-layer graph exported as `.keras` and its
    /// `model.weights.h5` (what Keras' `save_weights` writes) start a 0-epoch run with
    /// mnist-eval's figures to the last digit; damage and another model's file are errors.
    func testKerasFilesRoundTrip() throws {
        let box = try Sandbox()
        let (checkpoint, data) = try DigitModels.train(box, layers: DigitModels.convolutional, name: "every-layer")
        let config = try DigitModels.config(box, layers: DigitModels.convolutional, name: "every-layer")
        let keras = box.path("every-layer.keras")
        XCTAssertEqual(try runTool("mnist-export", [checkpoint, "--keras", keras]).status, 0)
        let eval = try runTool("mnist-eval", [checkpoint, "--data", data, "--threads", "1"])
        let expected = "test_" + eval.stdout.split(separator: "\n")[1].replacingOccurrences(of: " - accuracy", with: " - test_accuracy")
        func initRun(_ weights: String, config: String) throws -> ToolResult {
            try runTool("mnist-train", ["--config", config, "--data", data, "--init", weights, "--epochs", "0",
                                        "--output", box.path("from-keras.ckpt"), "--threads", "1"])
        }
        let fromArchive = try initRun(keras, config: config)
        XCTAssertEqual(fromArchive.status, 0, fromArchive.stderr)
        XCTAssertEqual(fromArchive.stdout.split(separator: "\n").last.map(String.init), expected)

        // The weights file alone, taken out of the archive by Python's zipfile.
        let h5 = box.path("every-layer.weights.h5")
        let unzip = try python(["-c", "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('model.weights.h5'))", keras, h5])
        XCTAssertEqual(unzip.status, 0, unzip.stdout)
        let fromWeights = try initRun(h5, config: config)
        XCTAssertEqual(fromWeights.status, 0, fromWeights.stderr)
        XCTAssertEqual(fromWeights.stdout.split(separator: "\n").last.map(String.init), expected)

        // Damage: a flipped byte in the archive's weights fails its CRC; a truncated file is named.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: keras)))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: box.path("flipped.keras")))
        assertFailure(try initRun(box.path("flipped.keras"), config: config), status: 65, "flipped.keras: model.weights.h5 in the archive is damaged: CRC error")
        let h5Bytes = try Data(contentsOf: URL(fileURLWithPath: h5))
        try h5Bytes.prefix(h5Bytes.count / 3).write(to: URL(fileURLWithPath: box.path("truncated.weights.h5")))
        assertFailure(try initRun(box.path("truncated.weights.h5"), config: config), status: 65, "truncated.weights.h5: not a readable HDF5 file")
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 60)).write(to: URL(fileURLWithPath: box.path("junk.keras")))
        assertFailure(try initRun(box.path("junk.keras"), config: config), status: 65, "junk.keras: not a readable zip archive")
        // Another model's file: the first variable that does not fit, by Keras' path and our name.
        let dense = try DigitModels.config(box, layers: DigitModels.dense, name: "dense")
        assertFailure(try initRun(keras, config: dense), status: 65,
                      "every-layer.keras: layers/dense/vars/0 (dense_1.kernel) has shape (5, 12), but the spec's layer needs (784, 16)")
    }

    /// A Keras file with a layer fewer or more than the spec's model: named, never half-loaded.
    func testKerasFileOfAnotherDepthIsAnError() throws {
        let box = try Sandbox()
        let short = #"[{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]"#
        let long = #"[{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "relu"}, {"type": "dense", "units": 10, "activation": "softmax"}]"#
        var files = [String: (config: String, keras: String)]()
        for (name, layers) in [("short", short), ("long", long)] {
            let (checkpoint, _) = try DigitModels.train(box, layers: layers, name: name)
            let keras = box.path("\(name).keras")
            XCTAssertEqual(try runTool("mnist-export", [checkpoint, "--keras", keras]).status, 0)
            files[name] = (try DigitModels.config(box, layers: layers, name: name), keras)
        }
        let data = box.root.appendingPathComponent("data/digits").path
        func initRun(_ weights: String, config: String) throws -> ToolResult {
            try runTool("mnist-train", ["--config", config, "--data", data, "--init", weights, "--epochs", "0", "--output", box.path("x.ckpt")])
        }
        assertFailure(try initRun(files["short"]!.keras, config: files["long"]!.config), status: 65,
                      "short.keras: missing layers/dense_1/vars/0, the Keras variable for dense_2.kernel, shape (10, 10), which the spec's layers need")
        assertFailure(try initRun(files["long"]!.keras, config: files["short"]!.config), status: 65,
                      "long.keras: the file has 4 layers, the spec's model 3 (as Keras counts them): a different model")
    }

    /// Files `make fuzz` found that crash libhdf5 1.10 (a NULL memcpy) or make it ask for
    /// 0xc000000000000 bytes: one `error:` line and exit 65, no crash report.
    func testDamagedHDF5FromTheFuzzerIsAnError() throws {
        let fuzzSpec = """
            {"name": "f", "dataset": "synthetic", "loss": "categorical_crossentropy", "input_shape": [4, 4], "layers": [
             {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same", "name": "c"},
             {"type": "conv2d", "filters": 2, "kernel_size": 1, "name": "d", "inputs": ["c"]},
             {"type": "add", "inputs": ["c", "d"]}, {"type": "flatten"}, {"type": "batch_normalization"},
             {"type": "dense", "units": 10, "activation": "softmax"}]}
            """
        let box = try Sandbox(trainCount: 64, testCount: 20, configText: fuzzSpec)
        let corpus = packageRoot.appendingPathComponent("Tests/Fuzz/corpus/keras")
        for (file, message) in [("libhdf5-null-memcpy.weights.h5", "a damaged HDF5 file: libhdf5 failed while reading it"),
                                ("libhdf5-huge-malloc.weights.h5", "missing layers/batch_normalization/vars/0")] {
            let path = corpus.appendingPathComponent(file).path
            assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", path,
                                                      "--epochs", "0", "--output", box.path("x.ckpt")]), status: 65, "\(file): \(message)")
        }
        // The seeds Keras wrote for this model load.
        let seed = corpus.appendingPathComponent("model.keras").path
        let run = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--init", seed, "--epochs", "0", "--output", box.path("y.ckpt")])
        XCTAssertEqual(run.status, 0, run.stderr)
    }
}
