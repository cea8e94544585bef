import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// mnist-predict end to end: pictures the test draws, through the executable, against the
/// model's own outputs on the field the picture must become.
final class PredictTests: XCTestCase {
    func testPredictsDrawnDigitsAndReportsBadFilesWithoutStopping() throws {
        let box = try Sandbox()
        let (checkpoint, _) = try DigitModels.train(box, layers: DigitModels.dense, name: "dense")
        let page = SyntheticDigit.onWhitePage(pageWidth: 60, pageHeight: 45, left: 40, top: 20)
        let good = PNGFixture.encode(width: 60, height: 45, colorType: .gray, samples: page)
        try Data(good).write(to: URL(fileURLWithPath: box.path("ring.png")))
        try Data(PNMFixture.binary(width: 60, height: 45, channels: 3, samples: page.flatMap { [$0, $0, $0] }))
            .write(to: URL(fileURLWithPath: box.path("ring.ppm")))
        var crc = good
        crc[45] ^= 1
        let broken: [(String, [UInt8], String)] = [
            ("cut.png", Array(good.prefix(good.count - 20)), "truncated: "),
            ("crc.png", crc, "bad CRC in PNG chunk IDAT"),
            ("empty.png", [], "empty file"),
            ("notes.png", Array("not a picture".utf8), "not an image"),
            ("huge.pgm", Array("P5 30000 30000 255\n".utf8), "image is 30000x30000, over the limit"),
        ]
        for (name, bytes, _) in broken { try Data(bytes).write(to: URL(fileURLWithPath: box.path(name))) }

        // The field the ring must become, through the model in this process.
        let loaded = try Checkpoint.load(path: checkpoint)
        let (model, _, _) = try loaded.restore(path: checkpoint, classCount: 10)
        let expected = model.predict(SyntheticDigit.preparedField)
        let expectedClass = expected.indices.max { expected[$0] < expected[$1] }!

        let files = ["ring.png", "cut.png", "crc.png", "ring.ppm", "empty.png", "notes.png", "huge.pgm", "missing.png"].map(box.path)
        let json = try runTool("mnist-predict", [checkpoint] + files + ["--json"])
        XCTAssertEqual(json.status, 65)
        let lines = json.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, json.stdout)
        for (line, file) in zip(lines, ["ring.png", "ring.ppm"]) {
            let object = try JSONParser.parse(line)
            XCTAssertEqual(object["file"], .string(box.path(file)))
            XCTAssertEqual(object["class"], .number(Double(expectedClass)))
            XCTAssertEqual(object["label"], .string(String(expectedClass)))
            guard case let .array(values)? = object["probabilities"] else { return XCTFail(line) }
            let probabilities = values.compactMap { if case let .number(v) = $0 { return Float(v) } else { return nil } }
            XCTAssertEqual(probabilities.count, 10)
            for (found, wanted) in zip(probabilities, expected) { XCTAssertEqual(found, wanted, accuracy: 1e-5, file) }
        }
        // One error line per bad file, naming it, in the order given.
        XCTAssertEqual(json.stderrLines.count, broken.count + 1, json.stderr)
        for ((name, _, problem), line) in zip(broken.sorted { files.firstIndex(of: box.path($0.0))! < files.firstIndex(of: box.path($1.0))! },
                                              json.stderrLines) {
            XCTAssertTrue(line.hasPrefix("error: \(box.path(name)): \(problem)"), line)
        }
        XCTAssertEqual(json.stderrLines.last, "error: \(box.path("missing.png")): no such file")

        // Text: the predicted class, then the top K with probabilities.
        let text = try runTool("mnist-predict", [checkpoint, box.path("ring.png"), "--top", "2"])
        XCTAssertEqual(text.status, 0, text.stderr)
        let ranked = expected.indices.sorted { expected[$0] > expected[$1] }
        XCTAssertEqual(text.stdout, "\(box.path("ring.png")): \(ranked[0])  (\(ranked[0]) \(String(format: "%.4f", expected[ranked[0]])), "
                       + "\(ranked[1]) \(String(format: "%.4f", expected[ranked[1]])))\n")

        // More files than one batch holds: predicted in batches, every line the same.
        let many = try runTool("mnist-predict", [checkpoint] + Array(repeating: box.path("ring.png"), count: 1201) + ["--top", "2"])
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertEqual(many.stdout, String(repeating: text.stdout, count: 1201))

        // --no-preprocess takes only the model's size, as it is.
        let asIs = try runTool("mnist-predict", [checkpoint, box.path("ring.png"), "--no-preprocess"])
        assertFailure(asIs, status: 65, "ring.png: image is 60x45, the model takes 28x28")
        let usage = try runTool("mnist-predict", [checkpoint, box.path("ring.png"), "--top", "0"])
        XCTAssertEqual(usage.status, 64)
    }

    /// A model trained on EMNIST's transposed images gets the prepared picture transposed.
    func testTransposesForModelsOfEMNIST() throws {
        let box = try Sandbox()
        let (checkpoint, _) = try DigitModels.train(box, layers: DigitModels.dense, name: "letters", dataset: "emnist-digits")
        let loaded = try Checkpoint.load(path: checkpoint)
        XCTAssertTrue(loaded.imagesTransposed)
        let page = SyntheticDigit.onWhitePage(pageWidth: 40, pageHeight: 40, left: 5, top: 9)
        try Data(PNGFixture.encode(width: 40, height: 40, colorType: .gray, samples: page)).write(to: URL(fileURLWithPath: box.path("ring.png")))
        let (model, _, _) = try loaded.restore(path: checkpoint, classCount: 10)
        let field = SyntheticDigit.preparedField
        let transposed = (0 ..< 784).map { field[($0 % 28) * 28 + $0 / 28] }
        let (expected, upright) = (model.predict(transposed), model.predict(field))
        XCTAssertGreaterThan(zip(expected, upright).map { abs($0 - $1) }.max() ?? 0, 1e-4, "the test cannot tell the two apart")
        let run = try runTool("mnist-predict", [checkpoint, box.path("ring.png"), "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        guard case let .array(values)? = try JSONParser.parse(run.stdout)["probabilities"] else { return XCTFail(run.stdout) }
        for (value, wanted) in zip(values, expected) {
            guard case let .number(found) = value else { return XCTFail(run.stdout) }
            XCTAssertEqual(Float(found), wanted, accuracy: 1e-5)
        }
    }

    func testBadCommandLinesAndCheckpoints() throws {
        let box = try Sandbox()
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: box.path("bad.ckpt")))
        assertFailure(try runTool("mnist-predict", [box.path("none.ckpt"), box.path("x.png")]), status: 66, "none.ckpt")
        assertFailure(try runTool("mnist-predict", [box.path("bad.ckpt"), box.path("x.png")]), status: 65, "bad.ckpt")
        XCTAssertEqual(try runTool("mnist-predict", [box.path("bad.ckpt")]).status, 64)
        XCTAssertEqual(try runTool("mnist-export", [box.path("bad.ckpt")]).status, 64)
        assertFailure(try runTool("mnist-export", [box.path("none.ckpt"), "--onnx", box.path("m.onnx")]), status: 66, "none.ckpt")
        let (checkpoint, _) = try DigitModels.train(box, layers: DigitModels.dense, name: "dense")
        assertFailure(try runTool("mnist-export", [checkpoint, "--onnx", box.path("no/such/folder/m.onnx")]), status: 73,
                      "no/such/folder/m.onnx: cannot write the ONNX model")
    }
}
