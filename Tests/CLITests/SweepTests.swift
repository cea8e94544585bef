import Foundation
import MNISTKit
import XCTest

/// mnist-sweep end to end on small synthetic data: the plan through GNU
/// parallel and `run --jobs 2` give the same runs, a run is the same bytes as
/// its command alone, an interrupted sweep continues without redoing finished
/// runs; and the CI gates.
final class SweepTests: XCTestCase {
    private func makeSweep(_ box: Sandbox, epochs: Int) throws -> String {
        let sweep = box.path("sweep.json")
        try Data("""
            {"config": "\(box.config.path)", "data": "\(box.data.path)", "set": {"epochs": \(epochs)},
             "grid": {"optimizer.learning_rate": [0.01, 0.003]}, "seeds": [1, 2]}
            """.utf8).write(to: URL(fileURLWithPath: sweep))
        return sweep
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    private let names = ["optimizer.learning_rate=0.01,seed=1", "optimizer.learning_rate=0.01,seed=2",
                         "optimizer.learning_rate=0.003,seed=1", "optimizer.learning_rate=0.003,seed=2"]

    func testParallelAndRunGiveTheSameRunsAsTheCommandsAlone() throws {
        guard (try? runProcess(["parallel", "--version"], keepErrors: false).status) == 0 else {
            throw XCTSkip("GNU parallel is not installed (make installs Debian's parallel)")
        }
        let box = try Sandbox()
        let sweep = try makeSweep(box, epochs: 2)
        let plan = try runTool("mnist-sweep", ["plan", sweep, "--out", box.path("byparallel")])
        XCTAssertEqual(plan.status, 0, plan.stderr)
        let commands = plan.stdout.split(separator: "\n")
        XCTAssertEqual(commands.count, 4)
        XCTAssertTrue(commands.allSatisfy { $0.contains(" --continue ") && $0.contains(" --threads 1 ") }, plan.stdout)
        try Data(plan.stdout.utf8).write(to: URL(fileURLWithPath: box.path("plan.txt")))
        let parallel = try runProcess(["sh", "-c", "parallel --will-cite -j 2 < \(box.path("plan.txt"))"])
        XCTAssertEqual(parallel.status, 0, parallel.output)

        let run = try runTool("mnist-sweep", ["run", sweep, "--out", box.path("byrun"), "--jobs", "2", "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout.split(separator: "\n").filter { $0.hasPrefix("[") }.count, 4, run.stdout)
        for name in names {
            let a = SweepFolder.runFolder(box.path("byparallel"), name), b = SweepFolder.runFolder(box.path("byrun"), name)
            XCTAssertEqual(try bytes(a + "/model.ckpt"), try bytes(b + "/model.ckpt"), name)
            let resultA = try XCTUnwrap(RunResult.load(path: a + "/result.json")), resultB = try XCTUnwrap(RunResult.load(path: b + "/result.json"))
            XCTAssertEqual(resultA.testAccuracy, resultB.testAccuracy)
            XCTAssertEqual(resultA.testLoss, resultB.testLoss)
            XCTAssertEqual(resultB.point.map(\.key), ["optimizer.learning_rate"])
            XCTAssertEqual(resultB.perClassRecall.count, 10)
        }
        // The same command alone, as a user would type it: the same checkpoint bytes.
        let folder = SweepFolder.runFolder(box.path("byrun"), names[2])
        let alone = try runTool("mnist-train", ["--config", folder + "/spec.json", "--data", box.data.path, "--output", box.path("alone.ckpt"),
                                                "--threads", "1", "--quiet"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertEqual(try bytes(box.path("alone.ckpt")), try bytes(folder + "/model.ckpt"))

        // Again: everything is finished, nothing runs.
        let again = try runTool("mnist-sweep", ["run", sweep, "--out", box.path("byrun"), "--jobs", "2"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, "4 runs planned, 4 finished before; running 0, 2 at a time, 1 thread each\n")

        // The table, and the CI gate on it.
        let table = try runTool("mnist-sweep", ["collect", box.path("byrun")])
        XCTAssertEqual(table.status, 0, table.stderr)
        let rows = table.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 4, table.stdout)
        XCTAssertEqual(rows[0], "| optimizer.learning_rate | runs | test accuracy (mean) | sd | min | max | seconds (mean) |")
        XCTAssertTrue(rows.dropFirst(2).allSatisfy { $0.contains(" | 2/2 | ") }, table.stdout)
        let gate = try runTool("mnist-sweep", ["collect", box.path("byrun"), "--min-mean-accuracy", "1"])
        assertFailure(gate, status: 1, "mean test accuracy below --min-mean-accuracy 1.0: optimizer.learning_rate=")
        XCTAssertEqual(try runTool("mnist-sweep", ["collect", box.path("byrun"), "--min-mean-accuracy", "0"]).status, 0)

        // mnist-eval's gate on one checkpoint.
        let result = try XCTUnwrap(RunResult.load(path: folder + "/result.json"))
        assertFailure(try runTool("mnist-eval", [folder + "/model.ckpt", "--data", box.data.path, "--min-accuracy", "1"]), status: 1,
                      "\(folder)/model.ckpt: test accuracy \(String(format: "%.4f", result.testAccuracy)) is below --min-accuracy 1.0")
        XCTAssertEqual(try runTool("mnist-eval", [folder + "/model.ckpt", "--data", box.data.path, "--min-accuracy", "0.05"]).status, 0)
    }

    func testAnInterruptedSweepContinuesWithoutRedoingFinishedRuns() throws {
        let box = try Sandbox(trainCount: 2000)
        let sweep = try makeSweep(box, epochs: 150)
        let out = box.path("sweep")
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("mnist-sweep")
        process.arguments = ["run", sweep, "--out", out, "--jobs", "1", "--threads", "1"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let first = SweepFolder.resultPath(out, names[0])
        let start = Date()
        while !FileManager.default.fileExists(atPath: first), Date().timeIntervalSince(start) < 60 { usleep(10_000) }
        // Part-way into the second run.
        let second = SweepFolder.runFolder(out, names[1]) + "/model.ckpt"
        while !FileManager.default.fileExists(atPath: second), Date().timeIntervalSince(start) < 60 { usleep(10_000) }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 130, message)
        XCTAssertTrue(message.hasPrefix("error: interrupted by SIGINT; 1 of 4 runs finished, the others keep their checkpoints"), message)
        let firstResult = try bytes(first)
        XCTAssertNil(RunResult.load(path: SweepFolder.resultPath(out, names[1])))
        XCTAssertGreaterThan(try Checkpoint.load(path: second).state.epochsCompleted, 0)

        let again = try runTool("mnist-sweep", ["run", sweep, "--out", out, "--jobs", "1", "--threads", "1"], timeout: 300)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.hasPrefix("4 runs planned, 1 finished before; running 3"), again.stdout)
        XCTAssertEqual(try bytes(first), firstResult, "the finished run was not run again")
        // The interrupted run, continued, equals the same command run alone and straight.
        let folder = SweepFolder.runFolder(out, names[1])
        let alone = try runTool("mnist-train", ["--config", folder + "/spec.json", "--data", box.data.path, "--output", box.path("alone.ckpt"),
                                                "--threads", "1", "--quiet"], timeout: 300)
        XCTAssertEqual(alone.status, 0, alone.stderr)
        XCTAssertEqual(try bytes(box.path("alone.ckpt")), try bytes(folder + "/model.ckpt"))
    }

    func testTwoSweepsSharingAFolderTrainEachRunOnce() throws {
        let box = try Sandbox(trainCount: 2000)
        let sweep = try makeSweep(box, epochs: 60)
        let out = box.path("shared")
        // Plan first, as machines sharing a folder would find it.
        XCTAssertEqual(try runTool("mnist-sweep", ["plan", sweep, "--out", out]).status, 0)
        let processes = try (0 ..< 2).map { _ -> (Process, Pipe) in
            let process = Process(), output = Pipe()
            process.executableURL = productsDirectory.appendingPathComponent("mnist-sweep")
            process.arguments = ["run", sweep, "--out", out, "--jobs", "1", "--threads", "1"]
            process.standardOutput = output
            try process.run()
            return (process, output)
        }
        var trained = [String]()
        for (process, output) in processes {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, text)
            trained += text.split(separator: "\n").filter { $0.hasPrefix("[") }.map { String($0.split(separator: " ")[1].dropLast()) }
        }
        XCTAssertEqual(trained.sorted(), names.sorted(), "each run trained by one of the two")
        for name in names {
            let log = try String(contentsOfFile: SweepFolder.runFolder(out, name) + "/train.log", encoding: .utf8)
            XCTAssertEqual(log.split(separator: "\n").count, 1, "\(name) ran more than once: \(log)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: SweepFolder.runFolder(out, name) + "/claim"), "\(name)'s claim is left")
        }
    }

    func testSweepOptionsOfTrainAreChecked() throws {
        let box = try Sandbox()
        let common = ["--config", box.config.path, "--data", box.data.path, "--output", box.path("model.ckpt")]
        assertFailure(try runTool("mnist-train", common + ["--point", "{}"]), status: 64, "--point is written into the --result file; give --result FILE")
        assertFailure(try runTool("mnist-train", common + ["--result", box.path("r.json"), "--point", "[1]"]), status: 64,
                      "--point: expected a JSON object of settings, received: [1]")
        assertFailure(try runTool("mnist-train", ["--resume", box.path("model.ckpt"), "--continue"]), status: 64, "--continue needs --config")
        // A result that cannot be written is found before any training.
        let unwritable = try runTool("mnist-train", common + ["--result", box.path("missing/r.json")])
        assertFailure(unwritable, status: 73, "\(box.path("missing/r.json")): cannot write the result file: No such file or directory")
        XCTAssertFalse(FileManager.default.fileExists(atPath: box.path("model.ckpt")))
        // --continue: a finished run (its result file there) does nothing.
        let first = try runTool("mnist-train", common + ["--result", box.path("r.json"), "--continue"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let checkpoint = try bytes(box.path("model.ckpt"))
        let again = try runTool("mnist-train", common + ["--result", box.path("r.json"), "--continue"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.hasPrefix("\(box.path("r.json")): this run has finished (test_accuracy: "), again.stdout)
        XCTAssertEqual(try bytes(box.path("model.ckpt")), checkpoint)
    }

    func testBenchComparesWithABaseline() throws {
        let box = try Sandbox()
        let baseline = box.path("baseline.json")
        try Data("some log line\n{\"epoch_seconds\": 2, \"peak_rss_mb\": 50, \"openblas_core\": \"Zen\"}\n".utf8).write(to: URL(fileURLWithPath: baseline))
        let bench = try runTool("mnist-bench", ["--config", box.config.path, "--data", box.data.path, "--epochs", "2", "--threads", "1",
                                                "--output", box.path("bench.ckpt"), "--baseline", baseline])
        XCTAssertEqual(bench.status, 0, bench.stderr)
        let last = try JSONParser.parse(String(bench.stdout.split(separator: "\n").last ?? ""))
        guard case let .number(epoch)? = last["epoch_seconds"], case let .number(rss)? = last["peak_rss_mb"],
              case let .object(ratios)? = last["ratio_to_baseline"] else { return XCTFail(bench.stdout) }
        XCTAssertEqual(ratios.map(\.key), ["epoch_seconds", "peak_rss_mb"], "the figures both have")
        XCTAssertEqual(last["ratio_to_baseline"]?["epoch_seconds"], .number((epoch / 2 * 1000).rounded() / 1000))
        XCTAssertEqual(last["ratio_to_baseline"]?["peak_rss_mb"], .number((rss / 50 * 1000).rounded() / 1000))
        assertFailure(try runTool("mnist-bench", ["--config", box.config.path, "--data", box.data.path, "--baseline", box.config.path]), status: 65,
                      "\(box.config.path): holds no mnist-bench result (a JSON line with epoch_seconds)")
    }
}
