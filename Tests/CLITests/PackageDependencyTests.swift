import Foundation
import MNISTKit
import XCTest

/// MNISTKit as another package uses it: a tagged copy of this repository,
/// reached through a file:// URL, builds the DocC article's program, which
/// reads a spec, trains on synthetic data, saves, evaluates and loads a checkpoint.
final class PackageDependencyTests: XCTestCase {
    func testTaggedReleaseBuildsAsADependency() throws {
        guard FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent(".git").path) else {
            throw XCTSkip("not a git checkout")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dependency-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("mnist-train"), consumer = root.appendingPathComponent("consumer")
        try FileManager.default.createDirectory(at: consumer.appendingPathComponent("Sources/consumer"), withIntermediateDirectories: true)
        // The committed tree, tagged as a release.
        XCTAssertEqual(try runProcess(["git", "clone", "--quiet", packageRoot.path, repository.path], in: root).status, 0)
        XCTAssertEqual(try runProcess(["git", "tag", "1.0.0"], in: repository).status, 0)

        try Data("""
            // swift-tools-version:6.0
            import PackageDescription

            let package = Package(
                name: "consumer",
                dependencies: [.package(url: "file://\(repository.path)", from: "1.0.0")],
                targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "MNISTKit", package: "mnist-train")])]
            )
            """.utf8).write(to: consumer.appendingPathComponent("Package.swift"))
        // The program: the DocC article's Swift, verbatim, then prints of what it computed and wrote.
        let article = try String(contentsOf: packageRoot.appendingPathComponent("Sources/MNISTKit/MNISTKit.docc/TrainEvaluateSave.md"), encoding: .utf8)
        let blocks = article.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        let program = blocks.filter { !$0.contains(".package(") }.joined(separator: "\n") + """
            for report in history { print("epoch \\(report.epoch): loss \\(report.loss)") }
            print("test accuracy \\(accuracy)")
            print("epochs \\(checkpoint.state.epochsCompleted) rows \\(probabilities.count / 3)")
            """
        XCTAssertTrue(program.hasPrefix("import MNISTKit"), program)
        try Data(program.utf8).write(to: consumer.appendingPathComponent("Sources/consumer/main.swift"))
        // What the article reads: a spec, and three classes of 4x4 images (the bright third of the
        // image is the label) in data/<dataset>, the same for training and test.
        try Data("""
            {"name": "consumer", "dataset": "toy", "input_shape": [4, 4],
             "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}],
             "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.5}, "epochs": 3, "batch_size": 8}
            """.utf8).write(to: consumer.appendingPathComponent("dense512.json"))
        var images = [UInt8](), labels = [UInt8]()
        for i in 0 ..< 48 {
            labels.append(UInt8(i % 3))
            for p in 0 ..< 16 { images.append(p / 6 == i % 3 ? 200 : 10) }
        }
        let data = consumer.appendingPathComponent("data/toy")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for split in ["train", "t10k"] {
            try Data(IDX.encode(elementType: .uint8, dimensions: [48, 4, 4], payload: images)).write(to: data.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [48], payload: labels)).write(to: data.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }

        // No index store or debug info: the test needs the program, not an IDE's or a debugger's data.
        let build = try runProcess(["swift", "build", "--disable-sandbox", "--disable-index-store", "-debug-info-format", "none"], in: consumer)
        XCTAssertEqual(build.status, 0, build.output)
        let result = try runProcess([consumer.appendingPathComponent(".build/debug/consumer").path], in: consumer)
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("epoch ") }.count, 3, result.output)
        XCTAssertEqual(lines.suffix(2), ["test accuracy 1.0", "epochs 3 rows 48"], result.output)
    }
}
