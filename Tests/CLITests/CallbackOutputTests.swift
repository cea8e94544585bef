import Foundation
import MNISTKit
import XCTest

/// What mnist-train says when a callback acts, and what a resume of an
/// early-stopped run does.
final class CallbackOutputTests: XCTestCase {
    func testEarlyStoppingAndPlateauSayWhatTheyDid() throws {
        // min_delta 10 on val_loss: only the first epoch counts as an improvement.
        let box = try Sandbox(configText: Sandbox.config(epochs: 8, extra: """
            , "validation_split": 0.2, "callbacks": [
              {"type": "reduce_lr_on_plateau", "monitor": "val_loss", "patience": 1, "factor": 0.4, "min_delta": 10},
              {"type": "early_stopping", "monitor": "val_loss", "patience": 3, "min_delta": 10, "restore_best_weights": true}]
            """))
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt"),
                                                "--metrics", box.path("metrics.jsonl"), "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let lines = train.stdout.split(separator: "\n").map(String.init)
        // Epoch 2: the plateau cuts 0.01 to 0.004; epochs 3 and 4 cut it again; epoch 4
        // is the third without improvement: stop, back to epoch 1's weights.
        XCTAssertEqual(lines.filter { !$0.hasPrefix("epoch ") && !$0.hasPrefix("Training") }, [
            "reduce_lr_on_plateau: val_loss did not improve for 1 epoch; learning_rate reduced to 0.0040",
            "reduce_lr_on_plateau: val_loss did not improve for 1 epoch; learning_rate reduced to 0.0016",
            "reduce_lr_on_plateau: val_loss did not improve for 1 epoch; learning_rate reduced to 6.4000e-04",
            "early stopping: val_loss did not improve for 3 epochs; restoring the weights of epoch 1",
            "saved \(box.path("model.ckpt")) after 4 epochs",
            lines.last!,
        ], train.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("epoch 3/8 ") && $0.hasSuffix("learning_rate: 0.0040") }, train.stdout)
        let metrics = try String(contentsOfFile: box.path("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(metrics.count, 4)

        // The checkpoint holds epoch 1's weights: evaluating it gives epoch 1's validation figures.
        let first = try JSONParser.parse(String(metrics[0]))
        let eval = try runTool("mnist-eval", [box.path("model.ckpt"), "--data", box.data.path, "--split", "validation", "--json", "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let evaluated = try JSONParser.parse(eval.stdout)
        XCTAssertEqual(evaluated["loss"], first["val_loss"], eval.stdout)

        // Resuming an early-stopped run trains nothing.
        let resume = try runTool("mnist-train", ["--resume", box.path("model.ckpt"), "--data", box.data.path, "--threads", "1"])
        XCTAssertEqual(resume.status, 0, resume.stderr)
        XCTAssertTrue(resume.stdout.hasPrefix("\(box.path("model.ckpt")): early stopping ended this run after epoch 4; nothing to train"), resume.stdout)
    }
}
