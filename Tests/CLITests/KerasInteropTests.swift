import Foundation
import MNISTKit
import XCTest

/// A checkpoint rebuilt in Keras from the spec and tensors it stores
/// (scripts/keras_from_checkpoint.py) scores what mnist-eval scores.
final class KerasInteropTests: XCTestCase {
    func testKerasRebuildsAConvnetCheckpointAndAgrees() throws {
        let backend = ["KERAS_BACKEND": ProcessInfo.processInfo.environment["KERAS_BACKEND"] ?? "jax"]
        guard try python(["-c", "import keras, safetensors, numpy"], environment: backend).status == 0 else {
            throw XCTSkip("python3 with keras (and jax), safetensors and numpy is not installed (.ci/run installs them with pip)")
        }
        let box = try Sandbox(configText: """
            {"name": "cnn", "dataset": "synthetic", "input_shape": [4, 4],
             "layers": [{"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"},
                        {"type": "batch_normalization"},
                        {"type": "max_pooling2d"},
                        {"type": "conv2d", "filters": 4, "kernel_size": 2, "strides": 1, "padding": "same", "use_bias": false},
                        {"type": "average_pooling2d", "pool_size": 2, "strides": 1},
                        {"type": "flatten"}, {"type": "dropout", "rate": 0.2},
                        {"type": "dense", "units": 12, "activation": "tanh"},
                        {"type": "dense", "units": 10, "activation": "softmax"}],
             "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
             "epochs": 8, "batch_size": 32}
            """)
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("cnn.ckpt"), "--quiet"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let eval = try runTool("mnist-eval", [box.path("cnn.ckpt"), "--data", box.data.path, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let ours = try JSONParser.parse(eval.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let script = packageRoot.appendingPathComponent("scripts/keras_from_checkpoint.py").path
        let keras = try python([script, box.path("cnn.ckpt"), "--data", box.data.path], environment: backend)
        XCTAssertEqual(keras.status, 0, keras.stdout)
        let theirs = try JSONParser.parse(keras.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        guard case let .number(ourAccuracy)? = ours["accuracy"], case let .number(kerasAccuracy)? = theirs["accuracy"],
              case let .number(ourLoss)? = ours["loss"], case let .number(kerasLoss)? = theirs["loss"] else {
            return XCTFail("\(eval.stdout)\n\(keras.stdout)")
        }
        XCTAssertEqual(kerasAccuracy, ourAccuracy, accuracy: 0.002)
        XCTAssertEqual(kerasLoss, ourLoss, accuracy: 1e-4 * max(1, ourLoss))
        XCTAssertGreaterThan(ourAccuracy, 0.5)
    }
}
