import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The seed model's exact bits, pinned: a dense512 checkpoint trained on fixed
/// synthetic 28x28 data with a fixed seed and thread count hashes to the same
/// SHA-256 as before the layer refactor. Any change to the arithmetic's order
/// (or to the checkpoint's bytes) shows here.
final class Dense512PinTests: XCTestCase {
    /// By OpenBLAS kernel (each sums its products in its own order), then thread
    /// count; computed with the code before the refactor (commit 38e3d0d).
    static let expected = [
        "Prescott": [1: "b43cbdab2102a2de93a035cf901a155336e01766337f7bcdc293d9932bd6fa25",
                     2: "eb50855851a1e89ab0d014e823dcd207f6e859bcfb242b86d4dff701593c4d00"],
        "SkylakeX": [1: "e69fdc695580890be425c9abf60b6d4340caa2d0bb9ef614066d5db1d98dccc3",
                     2: "e69fdc695580890be425c9abf60b6d4340caa2d0bb9ef614066d5db1d98dccc3"],
        "Cooperlake": [1: "1456f368aef161f610983c9724623e0cdb1bf2f8688168c18f4f394f848b5699",
                       2: "1456f368aef161f610983c9724623e0cdb1bf2f8688168c18f4f394f848b5699"],
        "Haswell": [1: "a5c95f3730e051fc4d2491f20a3a7cef3ad8b0fc77663b7881242d1c92771def",
                    2: "a5945d7a1e00826aafc6ae8a84af0823b70b5acbc363660af0aa3c94a4789feb"],
    ]

    /// The 4x4 synthetic digits, each pixel a 7x7 block: 28x28 images a dense512 learns.
    func upscaled(_ data: Dataset) -> Dataset {
        var images = [UInt8]()
        images.reserveCapacity(data.count * 784)
        for n in 0 ..< data.count {
            for y in 0 ..< 28 { for x in 0 ..< 28 { images.append(data.images[n * 16 + (y / 7) * 4 + x / 7]) } }
        }
        return Dataset(images: images, labels: data.labels, imageShape: [28, 28, 1], classCount: 10)
    }

    func testDense512CheckpointBytesAreUnchanged() throws {
        guard let expected = Dense512PinTests.expected[BLAS.coreName] else {
            throw XCTSkip("no pinned hash for OpenBLAS' \(BLAS.coreName) kernel; compute one with commit 38e3d0d")
        }
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = upscaled(syntheticDataset(count: 700, seed: 11))
        var spec = try ModelSpec.load(path: packageRoot.appendingPathComponent("configs/dense512.json").path)
        spec.epochs = 2
        spec.validationSplit = 0.1
        for threads in [1, 2] {
            let trainer = try Trainer(spec: spec, train: data, workers: WorkerPool(count: threads))
            while trainer.state.epochsCompleted < spec.epochs { _ = try trainer.runEpoch() }
            let path = directory.appendingPathComponent("dense512-\(threads).ckpt").path
            try Checkpoint(trainer: trainer).save(to: path)
            XCTAssertEqual(try sha256(path), expected[threads], "\(threads) threads, OpenBLAS \(BLAS.coreName)")
        }
    }

    /// SHA-256 by coreutils, a reference independent of this package.
    func sha256(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
    }
}
