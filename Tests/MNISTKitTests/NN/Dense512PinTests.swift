import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The seed model's exact bits, pinned: a dense512 checkpoint trained on fixed
/// synthetic 28x28 data with a fixed seed and thread count hashes to the same
/// SHA-256 as before the layer refactor. Any change to the arithmetic's order
/// (or to the checkpoint's bytes) shows here.
final class Dense512PinTests: XCTestCase {
    /// SHA-256 of the checkpoint's data section (every tensor's bytes, after the
    /// header), by OpenBLAS kernel (each sums its products in its own order),
    /// then thread count. The code before the layer refactor (commit 38e3d0d)
    /// wrote whole files byte-identical to the refactored code's for all four
    /// kernels; the header has since gained the dataset's identity, so the pin
    /// covers the tensors.
    static let expected = [
        "Prescott": [1: "cee3371561ebb2cea612ce9459cbbb371ca6f60820e78ce21f59788e8d482a57",
                     2: "b1e9a4ca4889d9cbba6e0847b086f12097324c554368c52866b16eaf6bedde9c"],
        "SkylakeX": [1: "e054ff5f24bda39bb356614492d76ea236f64dfd130866372712b2c4340e9edf",
                     2: "e054ff5f24bda39bb356614492d76ea236f64dfd130866372712b2c4340e9edf"],
        "Cooperlake": [1: "ed0d2ee4869790124b7ac3efef0b0e8ec0c8e2ba8e08e3a657a44dc5dee65360",
                       2: "ed0d2ee4869790124b7ac3efef0b0e8ec0c8e2ba8e08e3a657a44dc5dee65360"],
        "Haswell": [1: "c5fb31ea2b4d0f3d6a19f15df9ee44f3244740cc16e41e89cb7232a830adfdde",
                    2: "92bdc5003f313cba364a43e183633da9275196e9564443eaef49f1889f869427"],
        // AMD's Zen runs OpenBLAS' Haswell kernels: the same bits (checked with commit d67f524 too).
        "Zen": [1: "c5fb31ea2b4d0f3d6a19f15df9ee44f3244740cc16e41e89cb7232a830adfdde",
                2: "92bdc5003f313cba364a43e183633da9275196e9564443eaef49f1889f869427"],
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
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let tensors = directory.appendingPathComponent("tensors-\(threads).bin")
            try bytes.dropFirst(8 + headerLength).write(to: tensors)
            XCTAssertEqual(try sha256(tensors.path), expected[threads], "\(threads) threads, OpenBLAS \(BLAS.coreName)")
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
