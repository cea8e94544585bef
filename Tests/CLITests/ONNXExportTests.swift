import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// mnist-export --onnx: onnx's checker accepts the file, and onnxruntime, driven by docs/EXPORTING.md's
/// own snippet, gives our probabilities for every test image.
final class ONNXExportTests: XCTestCase {
    /// The onnxruntime snippet of docs/EXPORTING.md, as a user would copy it.
    func readmeSnippet() throws -> String {
        let readme = try String(contentsOf: packageRoot.appendingPathComponent("docs/EXPORTING.md"), encoding: .utf8)
        guard let section = readme.range(of: "## Run it elsewhere: ONNX"),
              let start = readme.range(of: "```python\n", range: section.upperBound ..< readme.endIndex),
              let end = readme.range(of: "```", range: start.upperBound ..< readme.endIndex) else {
            throw XCTSkip("docs/EXPORTING.md has no onnxruntime snippet")
        }
        return String(readme[start.upperBound ..< end.lowerBound])
    }

    func testDenseAndConvolutionalModelsRunInOnnxruntimeAsInOurs() throws {
        guard try python(["-c", "import onnx, onnxruntime, numpy"]).status == 0 else {
            throw XCTSkip("python3 with onnx, onnxruntime and numpy is not installed (.ci/run installs them with pip)")
        }
        let snippet = try readmeSnippet() + """
            import json, onnx
            onnx.checker.check_model(onnx.load("model.onnx"), full_check=True)
            print(json.dumps(probabilities.tolist()))
            """
        for (name, layers) in [("dense", DigitModels.dense), ("cnn", DigitModels.convolutional)] {
            let box = try Sandbox()
            let (checkpoint, data) = try DigitModels.train(box, layers: layers, name: name)
            let export = try runTool("mnist-export", [checkpoint, "--onnx", box.path("model.onnx")])
            XCTAssertEqual(export.status, 0, export.stderr)
            let imagesFile = URL(fileURLWithPath: data).appendingPathComponent("t10k-images-idx3-ubyte")
            try Data(gzip(Array(try Data(contentsOf: imagesFile)))).write(to: URL(fileURLWithPath: box.path("t10k-images-idx3-ubyte.gz")))
            try Data(snippet.utf8).write(to: URL(fileURLWithPath: box.path("snippet.py")))
            let run = try python(["snippet.py"], in: box.root, keepErrors: true)
            XCTAssertEqual(run.status, 0, run.stdout)
            guard case let .array(rows)? = try? JSONParser.parse(String(run.stdout.split(separator: "\n").last ?? "")) else {
                return XCTFail("\(name): \(run.stdout)")
            }
            let onnx = rows.map { row -> [Float] in
                guard case let .array(values) = row else { return [] }
                return values.compactMap { if case let .number(v) = $0 { return Float(v) } else { return nil } }
            }

            // Ours, in this process, on the same images.
            let test = try Dataset.load(imagesPath: imagesFile.path, labelsPath: data + "/t10k-labels-idx1-ubyte")
            let loaded = try Checkpoint.load(path: checkpoint)
            let (model, _, _) = try loaded.restore(path: checkpoint, classCount: 10)
            let ours = model.predict(test.images.map { Float($0) / 255 })
            XCTAssertEqual(onnx.count, test.count, name)
            var correct = 0
            for (n, row) in onnx.enumerated() {
                let mine = Array(ours[n * 10 ..< (n + 1) * 10])
                XCTAssertEqual(row.count, 10)
                let worst = zip(row, mine).map { abs($0 - $1) }.max() ?? 1
                XCTAssertLessThan(worst, 1e-5, "\(name), image \(n)")
                let predicted = row.indices.max { row[$0] < row[$1] }!
                XCTAssertEqual(predicted, mine.indices.max { mine[$0] < mine[$1] }!, "\(name), image \(n)")
                if predicted == Int(test.labels[n]) { correct += 1 }
            }
            // And mnist-eval scores exactly what onnxruntime's classes score.
            let eval = try runTool("mnist-eval", [checkpoint, "--data", data, "--json"])
            guard case let .number(accuracy)? = try JSONParser.parse(eval.stdout)["accuracy"] else { return XCTFail(eval.stdout) }
            XCTAssertEqual(accuracy, Double(correct) / Double(test.count), accuracy: 1e-9, name)
        }
    }
}
