import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// `--data` in every form, end to end: the same data as IDX, Keras' .npz, CSV
/// and image folders (written by NumPy and the standard library in
/// scripts/write_dataset_forms.py) trains to the same weights, evaluates and
/// resumes, and `mnist-data` converts each back to the same IDX bytes.
final class DataFormsCLITests: XCTestCase {
    let writer = packageRoot.appendingPathComponent("scripts/write_dataset_forms.py").path

    func requireNumPy() throws {
        guard try python(["-c", "import numpy"]).status == 0 else {
            throw XCTSkip("python3 with numpy is not installed (.ci/run installs it with pip)")
        }
    }

    /// The IDX files' contents, decompressed, keyed by their names without `.gz`.
    func idxContents(_ folder: String, limit: Int? = nil) throws -> [String: [UInt8]] {
        var contents: [String: [UInt8]] = [:]
        for (images, labels) in [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")] {
            let paths = try DatasetLocator.files(images.hasPrefix("train") ? .train : .test, in: folder)
            for (name, path) in [(images, paths.images), (labels, paths.labels)] {
                let array = try IDX.read(path: path)
                let count = min(limit ?? array.dimensions[0], array.dimensions[0])
                let size = array.dimensions.dropFirst().reduce(1, *)
                contents[name] = IDX.encode(elementType: array.elementType, dimensions: [count] + array.dimensions.dropFirst(),
                                            payload: Array(array.payload.prefix(count * size)))
            }
        }
        return contents
    }

    func testEveryFormTrainsEvaluatesAndResumesAlike() throws {
        try requireNumPy()
        let box = try Sandbox(trainCount: 300, testCount: 100)
        let forms = box.path("forms")
        XCTAssertEqual(try python([writer, box.data.path, forms]).status, 0)
        let config = try box.writeConfig(Sandbox.config(epochs: 2))
        func train(_ data: [String], _ name: String, epochs: String = "2") throws -> Checkpoint {
            let result = try runTool("mnist-train", ["--config", config, "--output", box.path(name), "--threads", "1", "--quiet", "--epochs", epochs] + data)
            XCTAssertEqual(result.status, 0, result.stderr)
            return try Checkpoint.load(path: box.path(name))
        }
        let reference = try train(["--data", box.data.path], "idx.ckpt")
        XCTAssertEqual(reference.datasetFormat, .idx)
        for (data, format) in [(["--data", "\(forms)/data.npz"], DataFormat.npz), (["--data", "\(forms)/csv"], .csv),
                               (["--data", "\(forms)/csv/train.csv", "--test-data", "\(forms)/csv/test.csv"], .csv),
                               (["--data", "\(forms)/folders"], .imageFolders)] {
            let checkpoint = try train(data, "\(format.rawValue).ckpt")
            XCTAssertEqual(checkpoint.datasetFormat, format)
            XCTAssertEqual(checkpoint.datasetSHA256, reference.datasetSHA256, "\(data): the content hash")
            XCTAssertEqual(checkpoint.tensors.count, reference.tensors.count)
            for (a, b) in zip(checkpoint.tensors, reference.tensors) {
                XCTAssertEqual(a.values.map(\.bitPattern), b.values.map(\.bitPattern), "\(data): \(a.name) differs from the IDX-trained one")
            }
        }
        // Resuming from an .npz-trained checkpoint on the .npz equals the straight run.
        _ = try train(["--data", "\(forms)/data.npz"], "half.ckpt", epochs: "1")
        let resumed = try runTool("mnist-train", ["--resume", box.path("half.ckpt"), "--output", box.path("resumed.ckpt"), "--epochs", "2",
                                                  "--threads", "1", "--quiet", "--data", "\(forms)/data.npz"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Checkpoint.load(path: box.path("resumed.ckpt")).tensors.map { $0.values.map(\.bitPattern) },
                       reference.tensors.map { $0.values.map(\.bitPattern) })
        // mnist-eval on every form (a lone CSV file is the split evaluated) prints the same figures.
        let evaluations = try [box.data.path, "\(forms)/data.npz", "\(forms)/csv", "\(forms)/csv/test.csv", "\(forms)/folders"].map { data in
            let result = try runTool("mnist-eval", [box.path("npz.ckpt"), "--data", data, "--json"])
            XCTAssertEqual(result.status, 0, result.stderr)
            return result.stdout
        }
        XCTAssertEqual(Set(evaluations).count, 1, evaluations.joined(separator: "\n"))

        // mnist-data: what it would read, and each form back to the same IDX bytes.
        let info = try runTool("mnist-data", ["info", "\(forms)/folders"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let counts = syntheticDataset(count: 300, seed: 1).labelHistogram(), testCounts = syntheticDataset(count: 100, seed: 2).labelHistogram()
        XCTAssertTrue(info.stdout.hasPrefix("\(forms)/folders: folders of images, one per class\ndataset: folders\n"), info.stdout)
        XCTAssertTrue(info.stdout.contains("train: 300 images of (4, 4, 1)\ntest: 100 images of (4, 4, 1)\nclasses: 10\n"), info.stdout)
        let rows = info.stdout.split(separator: "\n").drop { !$0.hasPrefix("class ") }.dropFirst().map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows, (0 ..< 10).map { ["\($0)", "\($0)", "\(counts[$0])", "\(testCounts[$0])"] })
        let original = try idxContents(box.data.path)
        for form in ["data.npz", "csv", "folders"] {
            let converted = try runTool("mnist-data", ["convert", "\(forms)/\(form)", box.path("idx-\(form)")])
            XCTAssertEqual(converted.status, 0, converted.stderr)
            XCTAssertEqual(try idxContents(box.path("idx-\(form)")), original, form)
        }
    }

    func testRealMNISTConvertsBackToItsOwnBytes() throws {
        try requireNumPy()
        let mnist = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path
        guard FileManager.default.fileExists(atPath: mnist + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("the real MNIST digits are not at \(mnist)")
        }
        let box = try Sandbox(trainCount: 1, testCount: 1)
        // The whole of MNIST as an .npz; the first 2,000 of each split as CSV and as image folders.
        XCTAssertEqual(try python([writer, mnist, box.path("all"), "--forms", "npz"]).status, 0)
        XCTAssertEqual(try python([writer, mnist, box.path("part"), "--forms", "csv,folders", "--limit", "2000"]).status, 0)
        for (form, limit) in [("all/data.npz", nil), ("part/csv", 2000), ("part/folders", 2000)] as [(String, Int?)] {
            let info = try runTool("mnist-data", ["info", box.path(form)])
            XCTAssertTrue(info.stdout.contains("dataset: mnist") == (limit == nil), "\(form): \(info.stdout)")
            let converted = try runTool("mnist-data", ["convert", box.path(form), box.path("idx")])
            XCTAssertEqual(converted.status, 0, converted.stderr)
            XCTAssertEqual(try idxContents(box.path("idx")), try idxContents(mnist, limit: limit), form)
        }
    }

    func testBadDataStopsBeforeTraining() throws {
        let box = try Sandbox(trainCount: 40, testCount: 10)
        let folders = box.path("folders")
        for k in 0 ..< 40 {
            let pixels = (0 ..< 16).map { ($0 * 7 + k) % 256 }
            let bytes = PNGFixture.encode(width: 4, height: 4, colorType: .gray, samples: pixels)
            for split in ["train", "test"] where split == "train" || k < 10 {
                let url = URL(fileURLWithPath: "\(folders)/\(split)/\(k % 2)/\(String(format: "%03d", k)).png")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(k == 23 && split == "train" ? Array(bytes.prefix(30)) : bytes).write(to: url)
            }
        }
        let result = try runTool("mnist-train", ["--config", box.config.path, "--data", folders, "--output", box.path("m.ckpt")])
        assertFailure(result, status: 65, "\(folders)/train/1/023.png: truncated")
        XCTAssertFalse(FileManager.default.fileExists(atPath: box.path("m.ckpt")))
        let csv = box.path("t.csv")
        try Data("label,a,b,c,d\n1,2,3,4,5\n".utf8).write(to: URL(fileURLWithPath: csv))
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", csv]), status: 64,
                      "\(csv): a CSV file holds one split, and training needs a test split too: give it with --test-data FILE")
    }
}
