import Foundation
import MNISTKit
import XCTest

/// A checkpoint that cannot be written is reported with its path and the
/// system's reason (exit 73), and the previous checkpoint stays as it was.
final class WriteFailureTests: XCTestCase {
    func testUnwritableFolderIsReported() throws {
        let box = try Sandbox()
        // /sys refuses new files even to root.
        assertFailure(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--output", "/sys/model.ckpt"]),
                      status: 73, "/sys/model.ckpt: cannot write checkpoint: Permission denied")
    }

    func testFullDiskKeepsThePreviousCheckpoint() throws {
        let box = try Sandbox()
        let disk = box.root.appendingPathComponent("small-disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        // A 256 KiB tmpfs: room for a small checkpoint, not for a large one.
        guard try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", disk.path]) == 0 else {
            throw XCTSkip("cannot mount a small tmpfs here (needs root) to fill a disk")
        }
        defer { _ = try? runCommand("/bin/umount", [disk.path]) }
        let checkpoint = disk.appendingPathComponent("model.ckpt").path
        XCTAssertEqual(try runTool("mnist-train", ["--config", box.config.path, "--data", box.data.path, "--epochs", "1",
                                                   "--output", checkpoint, "--quiet"]).status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))

        let large = try box.writeConfig(Sandbox.config(epochs: 1).replacingOccurrences(of: "\"units\": 16", with: "\"units\": 4096"))
        let result = try runTool("mnist-train", ["--config", large, "--data", box.data.path, "--output", checkpoint, "--quiet"])
        assertFailure(result, status: 73, "\(checkpoint): cannot write checkpoint: No space left on device")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), ["model.ckpt"], "the temporary file was left behind")
        XCTAssertEqual(try Checkpoint.load(path: checkpoint).state.epochsCompleted, 1)
    }

    func runCommand(_ path: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
