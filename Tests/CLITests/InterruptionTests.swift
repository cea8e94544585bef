import Foundation
import MNISTKit
import XCTest

/// Signals sent to a real training process: the checkpoint on disk must always load.
final class InterruptionTests: XCTestCase {
    /// Starts a long training run on the sandbox's data, writing `checkpoint` after every (short) epoch.
    func startTraining(_ box: Sandbox, checkpoint: String, units: Int = 64) throws -> Process {
        let config = box.path("long.json")
        try Data(Sandbox.config(epochs: 1_000_000).replacingOccurrences(of: "\"units\": 16", with: "\"units\": \(units)").utf8)
            .write(to: URL(fileURLWithPath: config))
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("mnist-train")
        process.arguments = ["--config", config, "--data", box.data.path, "--output", checkpoint, "--threads", "1", "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    func waitForFile(_ path: String, timeout: Double = 30) {
        let start = Date()
        while !FileManager.default.fileExists(atPath: path), Date().timeIntervalSince(start) < timeout { usleep(5_000) }
    }

    func waitForExit(_ process: Process, timeout: Double = 20) -> Bool {
        let start = Date()
        while process.isRunning, Date().timeIntervalSince(start) < timeout { usleep(5_000) }
        if process.isRunning { process.terminate(); return false }
        return true
    }

    func testSIGINTAndSIGTERMFinishTheBatchKeepTheCheckpointAndSayHowToResume() throws {
        for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            let box = try Sandbox()
            let checkpoint = box.path("model.ckpt")
            let process = try startTraining(box, checkpoint: checkpoint)
            waitForFile(checkpoint)
            usleep(50_000)
            kill(process.processIdentifier, signal)
            XCTAssertTrue(waitForExit(process), "training did not stop after signal \(signal)")
            XCTAssertEqual(process.terminationReason, .exit, "killed by the signal instead of stopping")
            XCTAssertEqual(process.terminationStatus, status)
            let loaded = try Checkpoint.load(path: checkpoint)
            XCTAssertGreaterThanOrEqual(loaded.state.epochsCompleted, 1)
            XCTAssertFalse(FileManager.default.fileExists(atPath: checkpoint + ".tmp-\(process.processIdentifier)"))
        }
    }

    func testInterruptMessageNamesTheCheckpointAndTheResumeCommand() throws {
        let box = try Sandbox()
        let checkpoint = box.path("model.ckpt")
        let process = Process()
        let config = box.path("long.json")
        try Data(Sandbox.config(epochs: 1_000_000).utf8).write(to: URL(fileURLWithPath: config))
        process.executableURL = productsDirectory.appendingPathComponent("mnist-train")
        process.arguments = ["--config", config, "--data", box.data.path, "--output", checkpoint, "--quiet"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        waitForFile(checkpoint)
        process.interrupt()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130)
        XCTAssertEqual(message.split(separator: "\n").count, 1, message)
        XCTAssertNotNil(message.range(of: #"^error: interrupted by SIGINT in epoch \d+( after batch \d+)?; .+ holds (1 completed epoch|(0|[2-9]|\d{2,}) completed epochs); resume with: mnist-train --resume /\S+/model\.ckpt --data /\S+/data/synthetic\n$"#,
                                      options: .regularExpression), message)
        // Run as printed, from another folder (with a nearer total), it continues the same file.
        let words = (message.components(separatedBy: "resume with: mnist-train ").last ?? "").split(separator: "\n")[0].split(separator: " ").map(String.init)
        let done = try Checkpoint.load(path: checkpoint).state.epochsCompleted
        let elsewhere = box.root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let resumed = try runTool("mnist-train", words + ["--epochs", String(done + 1), "--quiet"], in: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Checkpoint.load(path: checkpoint).state.epochsCompleted, done + 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path), [])
    }

    /// True once `signal` is no longer pending for `pid` (its handler has run).
    func waitUntilDelivered(_ pid: pid_t, _ signal: Int32) {
        let start = Date()
        while Date().timeIntervalSince(start) < 2 {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return }
            let pending = status.split(separator: "\n").filter { $0.hasPrefix("SigPnd:") || $0.hasPrefix("ShdPnd:") }
                .compactMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }.reduce(0, |)
            if pending & (1 << UInt64(signal - 1)) == 0 { return }
            usleep(100)
        }
    }

    func testSecondSignalExitsAtOnceWithoutATornCheckpoint() throws {
        // One slow batch per epoch (two 2048-unit layers on 2,000 samples), so the
        // second signal lands while the first is still waiting for the batch to end.
        let box = try Sandbox(trainCount: 2_000)
        let checkpoint = box.path("model.ckpt")
        let config = try box.writeConfig(Sandbox.config(epochs: 1_000_000)
            .replacingOccurrences(of: #"{"type": "dense", "units": 16, "activation": "relu"}"#,
                                  with: #"{"type": "dense", "units": 2048, "activation": "relu"}, {"type": "dense", "units": 2048, "activation": "relu"}"#)
            .replacingOccurrences(of: "\"batch_size\": 32", with: "\"batch_size\": 2000"))
        var orderly = 0
        for (signal, status) in [(SIGINT, Int32(130)), (SIGINT, 130), (SIGTERM, 143)] {
            try? FileManager.default.removeItem(atPath: checkpoint)
            let process = Process()
            process.executableURL = productsDirectory.appendingPathComponent("mnist-train")
            process.arguments = ["--config", config, "--data", box.data.path, "--output", checkpoint, "--threads", "1", "--quiet"]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            waitForFile(checkpoint)
            usleep(100_000) // into the next epoch's batch, past the check at its start
            kill(process.processIdentifier, signal)
            waitUntilDelivered(process.processIdentifier, signal)
            let second = Date()
            kill(process.processIdentifier, signal)
            XCTAssertTrue(waitForExit(process, timeout: 5))
            let afterSecond = Date().timeIntervalSince(second)
            XCTAssertEqual(process.terminationStatus, status)
            // Exited at once: mid-batch and silently. Rarely the first signal lands as a
            // batch ends and the orderly stop (which prints how to resume) wins the race;
            // either way the process must end promptly after the second signal.
            XCTAssertLessThan(afterSecond, 0.3, "still running \(afterSecond) s after the second signal")
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if !message.isEmpty {
                XCTAssertTrue(message.contains("resume with"), message)
                orderly += 1
            }
            XCTAssertNoThrow(try Checkpoint.load(path: checkpoint))
        }
        XCTAssertLessThan(orderly, 3, "no second signal ended training at once")
    }

    /// SIGKILL at random moments of a run that saves every few milliseconds:
    /// every time, the checkpoint on disk is a whole one.
    func testSIGKILLWhileWritingCheckpointsNeverLeavesATornFile() throws {
        var generator = RandomGenerator(seed: 12)
        var loadedCount = 0
        let box = try Sandbox()
        let checkpoint = box.path("model.ckpt")
        for round in 0 ..< 20 {
            let process = try startTraining(box, checkpoint: checkpoint, units: 512)
            if round == 0 { waitForFile(checkpoint) }
            usleep(UInt32(20_000 + generator.nextIndex(below: 200_000)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal)
            XCTAssertNoThrow(try Checkpoint.load(path: checkpoint), "round \(round)")
            loadedCount += 1
        }
        XCTAssertEqual(loadedCount, 20)
    }
}
