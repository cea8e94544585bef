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
}
