import Foundation
import MNISTKit
import XCTest

/// mnist-train --tensorboard, judged by TensorBoard's own readers
/// (scripts/read_tensorboard_log.py: EventAccumulator and its TFRecord reader).
final class TensorBoardTests: XCTestCase {
    private let reader = packageRoot.appendingPathComponent("scripts/read_tensorboard_log.py").path

    private func requireTensorBoard() throws {
        guard try python(["-c", "import tensorboard, safetensors, numpy"]).status == 0 else {
            throw XCTSkip("python3 with tensorboard, safetensors and numpy is not installed (.ci/run installs them with pip)")
        }
    }

    /// The log as TensorBoard reads it.
    private func readLog(_ folder: String, weights: String? = nil) throws -> [String: Any] {
        let result = try python([reader, folder] + (weights.map { ["--weights", $0] } ?? []), keepErrors: true)
        XCTAssertEqual(result.status, 0, result.stdout)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
    }

    private func scalars(_ log: [String: Any], _ run: String, _ tag: String) -> [(step: Int, value: Double)] {
        let series = ((log[run] as? [String: Any])?["scalars"] as? [String: [[Double]]])?[tag] ?? []
        return series.map { (Int($0[0]), $0[1]) }
    }

    private func eventFiles(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
    }

    func testTensorBoardReadsTheMetricsFilesFiguresHistogramsAndTheErrorsGrid() throws {
        try requireTensorBoard()
        // 320 training samples in batches of 32: 10 batches an epoch, 80 validation samples.
        let box = try Sandbox(configText: Sandbox.config(epochs: 3, extra: #", "validation_split": 0.2"#))
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt"),
                                                "--metrics", box.path("metrics.jsonl"), "--threads", "1", "--tensorboard", box.path("logs"),
                                                "--tensorboard-update-freq", "3", "--tensorboard-histograms"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let log = try readLog(box.path("logs"), weights: box.path("model.ckpt"))
        let metrics = try String(contentsOfFile: box.path("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Double]) }
        XCTAssertEqual(metrics.count, 3)

        // Every epoch scalar is the metrics file's figure at the same epoch (TensorBoard's step = epoch - 1).
        for (run, tag, key) in [("train", "epoch_loss", "loss"), ("train", "epoch_accuracy", "accuracy"),
                                ("train", "epoch_learning_rate", "learning_rate"),
                                ("validation", "epoch_loss", "val_loss"), ("validation", "epoch_accuracy", "val_accuracy")] {
            let series = scalars(log, run, tag)
            XCTAssertEqual(series.map(\.step), [0, 1, 2], "\(run)/\(tag)")
            for (point, line) in zip(series, metrics) {
                XCTAssertEqual(point.value, line[key]!, accuracy: 1e-6, "\(run)/\(tag) at step \(point.step)")
            }
        }
        // Keras' evaluation_*_vs_iterations: the validation figures at the optimizer's step count.
        XCTAssertEqual(scalars(log, "validation", "evaluation_loss_vs_iterations").map(\.step), [10, 20, 30])
        XCTAssertEqual(scalars(log, "validation", "evaluation_accuracy_vs_iterations").last?.value ?? -1, metrics[2]["val_accuracy"]!, accuracy: 1e-6)

        // Batch scalars every 3 batches over the run; at an epoch's last batch the running mean is the epoch's figure.
        let batchLoss = scalars(log, "train", "batch_loss")
        XCTAssertEqual(batchLoss.map(\.step), Array(stride(from: 3, through: 30, by: 3)))
        XCTAssertEqual(scalars(log, "train", "batch_accuracy").map(\.step), Array(stride(from: 3, through: 30, by: 3)))
        XCTAssertEqual(batchLoss.last?.value ?? -1, metrics[2]["loss"]!, accuracy: 1e-6)
        XCTAssertEqual(scalars(log, "train", "batch_accuracy").last?.value ?? -1, metrics[2]["accuracy"]!, accuracy: 1e-6)

        // A histogram per variable per epoch: its count is the variable's size (16·16, 16, 16·10, 10),
        // and the last one's buckets are numpy.histogram(bins=30) of the checkpoint's values.
        let histograms = try XCTUnwrap((log["train"] as? [String: Any])?["histograms"] as? [String: [[Any]]])
        let numpy = try XCTUnwrap(log["numpy"] as? [String: [Double]])
        let sizes = ["dense_1/kernel/histogram": 256.0, "dense_1/bias/histogram": 16, "dense_2/kernel/histogram": 160, "dense_2/bias/histogram": 10]
        XCTAssertEqual(Set(histograms.keys), Set(sizes.keys))
        for (tag, series) in histograms {
            XCTAssertEqual(series.map { $0[0] as? Int }, [0, 1, 2], tag)
            XCTAssertEqual(series.map { $0[1] as? Double }, [Double?](repeating: sizes[tag], count: 3), tag)
            XCTAssertEqual(series.last?[4] as? [Double], numpy[tag], tag)
        }

        // The final model's errors grid, once, at the last epoch; its stated size is the PNG's.
        let images = try XCTUnwrap(((log["train"] as? [String: Any])?["images"] as? [String: [[Int]]])?["test_errors"])
        XCTAssertEqual(images.count, 1)
        XCTAssertEqual(images.first?[0], 2)
        XCTAssertEqual(images.first.map { [$0[1], $0[2]] }, images.first.map { [$0[3], $0[4]] })

        // The CRCs are real: TensorBoard's record reader takes the file whole, and refuses it with one byte flipped.
        let file = try XCTUnwrap(eventFiles(box.path("logs/train")).first)
        XCTAssertTrue(try python([reader, "--records", file]).stdout.hasPrefix("records: "))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0x10
        let damaged = box.path("damaged.v2")
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))
        let check = try python([reader, "--records", damaged]).stdout
        XCTAssertTrue(check.contains("failed") && check.contains("crc32 check"), check)
    }

    func testAResumedRunContinuesTheStepsWithoutDuplicates() throws {
        try requireTensorBoard()
        let box = try Sandbox(configText: Sandbox.config(epochs: 3, extra: #", "validation_split": 0.2"#))
        func train(_ arguments: [String], log: String) throws {
            let result = try runTool("mnist-train", arguments + ["--data", box.data.path, "--threads", "1", "--quiet", "--tensorboard", box.path(log),
                                                                 "--tensorboard-update-freq", "4", "--tensorboard-histograms"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        try train(["--config", box.config.path, "--output", box.path("straight.ckpt")], log: "straight")

        // Epoch 1, kept aside; then on to epoch 3, as a run that is later lost (its checkpoint, not its records).
        try train(["--config", box.config.path, "--epochs", "1", "--output", box.path("run.ckpt")], log: "resumed")
        try FileManager.default.copyItem(atPath: box.path("run.ckpt"), toPath: box.path("epoch1.ckpt"))
        try train(["--resume", box.path("run.ckpt"), "--epochs", "3"], log: "resumed")
        // A record cut short by a crash, at the end of the newest file.
        let newest = try XCTUnwrap(eventFiles(box.path("resumed/train")).last)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: newest))
        handle.seekToEndOfFile()
        handle.write(Data([0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 2]))
        try handle.close()
        // Continuing from epoch 1 cuts epochs 2-3 (and batches after 10) and writes them again.
        try train(["--resume", box.path("epoch1.ckpt"), "--epochs", "3", "--output", box.path("again.ckpt")], log: "resumed")

        let straight = try readLog(box.path("straight")), resumed = try readLog(box.path("resumed"))
        for run in ["train", "validation"] {
            let tags = ((straight[run] as? [String: Any])?["scalars"] as? [String: Any])?.keys.sorted() ?? []
            XCTAssertEqual(tags, ((resumed[run] as? [String: Any])?["scalars"] as? [String: Any])?.keys.sorted(), run)
            XCTAssertFalse(tags.isEmpty)
            for tag in tags {
                let expected = scalars(straight, run, tag), actual = scalars(resumed, run, tag)
                XCTAssertEqual(actual.map(\.step), expected.map(\.step), "\(run)/\(tag): steps")
                XCTAssertEqual(actual.map(\.value), expected.map(\.value), "\(run)/\(tag): values")
            }
        }
        let straightTrain = try XCTUnwrap(straight["train"] as? [String: Any]), resumedTrain = try XCTUnwrap(resumed["train"] as? [String: Any])
        XCTAssertEqual(straightTrain["histograms"] as? NSDictionary, resumedTrain["histograms"] as? NSDictionary)
        // The grids of the two runs that finished: the 1-epoch run's, and the final one (the lost run's was cut).
        XCTAssertEqual((resumedTrain["images"] as? [String: [[Int]]])?["test_errors"]?.map { $0[0] }, [0, 2])
        for file in try eventFiles(box.path("resumed/train")) {
            XCTAssertTrue(try python([reader, "--records", file]).stdout.hasPrefix("records: "), "\(file) still ends in a damaged record")
        }
    }

    func testTensorBoardOptionsAreChecked() throws {
        let box = try Sandbox()
        let common = ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt")]
        assertFailure(try runTool("mnist-train", common + ["--tensorboard-update-freq", "5"]), status: 64,
                      "--tensorboard-update-freq needs --tensorboard DIR")
        assertFailure(try runTool("mnist-train", common + ["--tensorboard-histograms"]), status: 64, "--tensorboard-histograms needs --tensorboard DIR")
        assertFailure(try runTool("mnist-train", common + ["--tensorboard", box.path("logs"), "--tensorboard-update-freq", "0"]), status: 64,
                      "--tensorboard-update-freq must be a positive integer, received: 0")
        // A log folder that cannot be made is found before the first epoch.
        try Data("not a folder".utf8).write(to: URL(fileURLWithPath: box.path("file")))
        let result = try runTool("mnist-train", common + ["--tensorboard", box.path("file/logs")])
        assertFailure(result, status: 73, "\(box.path("file/logs/train")): cannot make the log folder: \(box.path("file")) is not a folder")
        XCTAssertFalse(result.stdout.contains("epoch 1/"), result.stdout)
    }
}
