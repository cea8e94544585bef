import Foundation
import XCTest

/// MNISTKit as another package uses it: a tagged copy of this repository,
/// reached through a file:// URL, builds into a program that builds a model
/// from a spec, trains on synthetic data, saves and loads a checkpoint.
final class PackageDependencyTests: XCTestCase {
    func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func testTaggedReleaseBuildsAsADependency() throws {
        guard FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent(".git").path) else {
            throw XCTSkip("not a git checkout")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dependency-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = root.appendingPathComponent("mnist-train"), consumer = root.appendingPathComponent("consumer")
        try FileManager.default.createDirectory(at: consumer.appendingPathComponent("Sources/consumer"), withIntermediateDirectories: true)
        // The committed tree, tagged as a release.
        XCTAssertEqual(try run(["git", "clone", "--quiet", packageRoot.path, repository.path], in: root).status, 0)
        XCTAssertEqual(try run(["git", "tag", "1.0.0"], in: repository).status, 0)

        try Data("""
            // swift-tools-version:6.0
            import PackageDescription

            let package = Package(
                name: "consumer",
                dependencies: [.package(url: "file://\(repository.path)", from: "1.0.0")],
                targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "MNISTKit", package: "mnist-train")])]
            )
            """.utf8).write(to: consumer.appendingPathComponent("Package.swift"))
        try Data(#"""
            import MNISTKit

            // Three classes of 4x4 images: the bright third of the image is the label.
            var images = [UInt8](), labels = [UInt8]()
            for i in 0 ..< 48 {
                labels.append(UInt8(i % 3))
                for p in 0 ..< 16 { images.append(p / 6 == i % 3 ? 200 : 10) }
            }
            let data = Dataset(images: images, labels: labels, imageShape: [4, 4, 1], classCount: 3)
            let spec = try ModelSpec.parse("""
                {"name": "consumer", "input_shape": [4, 4], "layers": [{"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}],
                 "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.5}, "epochs": 3, "batch_size": 8}
                """)
            let trainer = try Trainer(spec: spec, train: data)
            try trainer.fit(writing: FitOutputs(checkpoint: "consumer.ckpt"))
            let loaded = try Checkpoint.load(path: "consumer.ckpt")
            let (model, _, _) = try loaded.restore(path: "consumer.ckpt", classCount: 3)
            print("epochs \(loaded.state.epochsCompleted) accuracy \(model.evaluate(data).accuracy)")
            """#.utf8).write(to: consumer.appendingPathComponent("Sources/consumer/main.swift"))

        let build = try run(["swift", "build", "--disable-sandbox"], in: consumer)
        XCTAssertEqual(build.status, 0, build.output)
        let result = try run([consumer.appendingPathComponent(".build/debug/consumer").path], in: consumer)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(result.output, "epochs 3 accuracy 1.0\n")
    }
}
