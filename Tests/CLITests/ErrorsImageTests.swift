import Foundation
import MNISTKit
import XCTest

/// mnist-eval --errors-image: the PNG decodes to the size the layout gives by hand, and its first
/// cell holds the first misclassified sample, enlarged three times.
final class ErrorsImageTests: XCTestCase {
    func testGridOfTheFirstMisclassifiedImages() throws {
        let box = try Sandbox(configText: Sandbox.config(epochs: 1, optimizer: #"{"type": "sgd", "learning_rate": 0.01}"#))
        let train = try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", box.path("m.ckpt")])
        XCTAssertEqual(train.status, 0, train.stderr)
        let eval = try runTool("mnist-eval", [box.path("m.ckpt"), "--data", box.data.path, "--show-errors", "1",
                                              "--errors-image", box.path("errors.png"), "--errors-image-count", "5"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        // "sample 3 (0-based, ...)": the first misclassified one.
        guard let line = eval.stdout.split(separator: "\n").first(where: { $0.hasPrefix("sample ") }),
              let first = Int(line.split(separator: " ")[1]) else { return XCTFail("no misclassified sample:\n\(eval.stdout)") }
        let image = try RGBAImage.read(path: box.path("errors.png"))
        // Five cells of 4x4 images at 3x: each cell as wide as its caption "d -> d" (6 characters of 7
        // pixels = 42), 12 + 3 + 12 tall; margins 8, gaps 8, a 12-pixel title line.
        XCTAssertEqual(image.width, 8 + 5 * 42 + 4 * 8 + 8)
        XCTAssertEqual(image.height, 8 + 12 + 8 + (12 + 3 + 12) + 8)
        let test = try Dataset.load(imagesPath: box.data.path + "/t10k-images-idx3-ubyte", labelsPath: box.data.path + "/t10k-labels-idx1-ubyte")
        let (left, top) = (8 + (42 - 12) / 2, 8 + 12 + 8)
        for y in 0 ..< 12 {
            for x in 0 ..< 12 {
                let expected = test.images[first * 16 + (y / 3) * 4 + x / 3]
                let at = ((top + y) * image.width + left + x) * 4
                XCTAssertEqual(Array(image.pixels[at ..< at + 4]), [expected, expected, expected, 255], "(\(x), \(y))")
            }
        }
        let bad = try runTool("mnist-eval", [box.path("m.ckpt"), "--data", box.data.path, "--errors-image", box.path("no/such/dir/e.png")])
        assertFailure(bad, status: 73, "no/such/dir/e.png: cannot write the errors image")
    }
}
