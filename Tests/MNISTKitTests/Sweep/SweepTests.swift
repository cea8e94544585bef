import Foundation
import MNISTKit
import XCTest

/// Sweep files: expansion, names, checks against the spec, and the collected
/// statistics, against hand-written expectations.
final class SweepTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = try makeTemporaryDirectory()
        try write("""
            {"name": "small", "dataset": "synthetic", "input_shape": [4, 4],
             "layers": [{"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"},
                        {"type": "dense", "units": 10, "activation": "softmax"}],
             "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": {"type": "cosine_decay", "initial_learning_rate": 0.001, "decay_steps": 100}},
             "epochs": 3, "batch_size": 32}
            """, to: "small.json")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func write(_ text: String, to name: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    private func sweep(_ body: String) throws -> Sweep {
        try write(#"{"config": "small.json", "# + body + "}", to: "sweep.json")
        return try Sweep(path: folder.appendingPathComponent("sweep.json").path)
    }

    private func error(_ body: String) -> String {
        do {
            _ = try sweep(body).plan()
            return "no error"
        } catch {
            return "\(error)".replacingOccurrences(of: folder.path + "/", with: "")
        }
    }

    func testGridCrossedWithSeedsFirstKeySlowest() throws {
        let runs = try sweep(#""set": {"epochs": 1}, "grid": {"optimizer.learning_rate.initial_learning_rate": [0.01, 0.001], "layers[1].units": [8, 32]}, "seeds": [1, 2]"#).plan()
        XCTAssertEqual(runs.map(\.name), [
            "optimizer.learning_rate.initial_learning_rate=0.01,layers[1].units=8,seed=1",
            "optimizer.learning_rate.initial_learning_rate=0.01,layers[1].units=8,seed=2",
            "optimizer.learning_rate.initial_learning_rate=0.01,layers[1].units=32,seed=1",
            "optimizer.learning_rate.initial_learning_rate=0.01,layers[1].units=32,seed=2",
            "optimizer.learning_rate.initial_learning_rate=0.001,layers[1].units=8,seed=1",
            "optimizer.learning_rate.initial_learning_rate=0.001,layers[1].units=8,seed=2",
            "optimizer.learning_rate.initial_learning_rate=0.001,layers[1].units=32,seed=1",
            "optimizer.learning_rate.initial_learning_rate=0.001,layers[1].units=32,seed=2",
        ])
        let last = runs[7].spec
        XCTAssertEqual(last.epochs, 1)
        XCTAssertEqual(last.seed, 2)
        XCTAssertEqual(last.json["layers"].flatMap { if case let .array(items) = $0 { return items[1]["units"] } else { return nil } }, .number(32))
        XCTAssertEqual(last.json["optimizer"]?["learning_rate"]?["initial_learning_rate"], .number(0.001))
        XCTAssertEqual(last.json["optimizer"]?["learning_rate"]?["decay_steps"], .number(100), "untouched keys keep the config's values")
    }

    func testOptimizerKeysMayLeaveOutTheirPrefix() throws {
        let runs = try sweep(#""grid": {"learning_rate.decay_steps": [50]}"#).plan()
        XCTAssertEqual(runs.map(\.name), ["optimizer.learning_rate.decay_steps=50,seed=1"])
        XCTAssertEqual(runs[0].spec.json["optimizer"]?["learning_rate"]?["decay_steps"], .number(50))
    }

    func testRandomDrawsAreInRangeAndTheSameEveryTime() throws {
        let body = #""random": {"trials": 20, "seed": 7, "optimizer.beta_1": {"uniform": [0.8, 0.95]}, "learning_rate.initial_learning_rate": {"log_uniform": [1e-4, 1e-2]}, "batch_size": {"int_uniform": [16, 64]}, "layers[1].activation": {"choice": ["relu", "tanh"]}}"#
        let first = try sweep(body).plan(), again = try sweep(body).plan()
        XCTAssertEqual(first.map(\.name), again.map(\.name))
        XCTAssertEqual(first.count, 20)
        var activations = Set<String>()
        for run in first {
            let values = Dictionary(uniqueKeysWithValues: run.point.map { ($0.key, $0.value) })
            guard case let .number(beta)? = values["optimizer.beta_1"], case let .number(rate)? = values["optimizer.learning_rate.initial_learning_rate"],
                  case let .number(batch)? = values["batch_size"], case let .string(activation)? = values["layers[1].activation"] else {
                return XCTFail("point \(run.name)")
            }
            XCTAssertTrue((0.8 ..< 0.95).contains(beta) && (1e-4 ... 1e-2).contains(rate), run.name)
            XCTAssertTrue((16 ... 64).contains(batch) && batch == batch.rounded(), run.name)
            XCTAssertEqual(run.spec.batchSize, Int(batch))
            activations.insert(activation)
        }
        XCTAssertEqual(activations, ["relu", "tanh"], "20 draws of a fair choice give both")
        let otherSeed = try sweep(body.replacingOccurrences(of: #""seed": 7"#, with: #""seed": 8"#)).plan()
        XCTAssertNotEqual(otherSeed.map(\.name), first.map(\.name))
        // Log-uniform: about as many draws below 1e-3 (the middle in log) as above.
        let below = first.filter { run in run.point.contains { $0.key.hasSuffix("initial_learning_rate") && $0.value.serializedNumber < 1e-3 } }.count
        XCTAssertTrue((4 ... 16).contains(below), "\(below) of 20 below the log-middle")
    }

    func testKeysAndValuesAreCheckedBeforeAnythingRuns() {
        XCTAssertEqual(error(#""grid": {"optimizer.learning_rat": [0.1]}"#),
                       #"sweep.json: grid."optimizer.learning_rat": no such key in small.json; did you mean optimizer.learning_rate?"#)
        XCTAssertEqual(error(#""set": {"epoch": 2}"#), #"sweep.json: set."epoch": no such key in small.json; did you mean epochs?"#)
        XCTAssertEqual(error(#""grid": {"batch_size": []}"#), #"sweep.json: grid."batch_size": expected a non-empty array of values, got an array"#)
        XCTAssertEqual(error(#""grid": {"seed": [1, 2]}"#), #"sweep.json: grid."seed": give seeds in "seeds", which repeats every point with each"#)
        XCTAssertEqual(error(#""random": {"trials": 2, "batch_size": {"normal": [1, 2]}}"#),
                       #"sweep.json: random."batch_size": unknown distribution "normal"; expected one of {"uniform": [a, b]}, {"log_uniform": [a, b]}, {"int_uniform": [a, b]}, {"choice": [values]}"#)
        XCTAssertEqual(error(#""random": {"trials": 2, "optimizer.beta_1": {"log_uniform": [0, 1]}}"#),
                       #"sweep.json: random."optimizer.beta_1".log_uniform: needs a positive low end, got [0,1]"#)
        XCTAssertEqual(error(#""random": {"trials": 3}"#), #"sweep.json: random.trials: 3 trials, but no key to draw; add "key": {"uniform": [a, b]} beside it"#)
        XCTAssertEqual(error(#""seeds": [1, -2]"#), "sweep.json: seeds[1]: expected a non-negative whole number, got -2")
        XCTAssertEqual(error(#""grids": {}"#), #"sweep.json: grids: unknown key; did you mean "grid"? expected config, data, set, grid, random, seeds"#)
        // A value the spec refuses, named with the point that carries it.
        XCTAssertEqual(error(#""grid": {"batch_size": [32, -1]}"#),
                       "sweep.json: batch_size: expected a positive integer, got -1 (with batch_size=-1)")
    }

    func testStatisticsByHand() {
        func result(_ accuracy: Double, _ seconds: Double) -> RunResult {
            RunResult(point: [], seed: 1, testLoss: 0, testAccuracy: accuracy, perClassRecall: [], epochs: 1, seconds: seconds,
                      peakRSSMegabytes: 1, threads: 1, version: "v", openBLASCore: "c")
        }
        let a: [(key: String, value: JSONValue)] = [("lr", .number(0.1)), ("units", .number(8))]
        let b: [(key: String, value: JSONValue)] = [("lr", .number(0.1)), ("units", .number(16))]
        let c: [(key: String, value: JSONValue)] = [("lr", .number(0.2)), ("units", .number(8))]
        let planned: [(point: [(key: String, value: JSONValue)], seed: UInt64, name: String)] =
            [(a, 1, "a1"), (a, 2, "a2"), (a, 3, "a3"), (b, 1, "b1"), (b, 2, "b2"), (c, 1, "c1")]
        let results = ["a1": result(0.90, 10), "a2": result(0.92, 20), "a3": result(0.94, 30), "b1": result(0.95, 5)]
        let rows = SweepRow.table(planned: planned, results: results)
        XCTAssertEqual(rows.map(\.label), ["lr=0.1, units=16", "lr=0.1, units=8", "lr=0.2, units=8"], "best first, nothing finished last")
        XCTAssertEqual(rows.map(\.planned), [2, 3, 1])
        XCTAssertEqual(rows[1].accuracies, [0.90, 0.92, 0.94])
        XCTAssertEqual(rows[1].mean!, 0.92, accuracy: 1e-12)
        // Sample deviation: sqrt((0.02² + 0 + 0.02²) / 2) = 0.02.
        XCTAssertEqual(rows[1].standardDeviation!, 0.02, accuracy: 1e-12)
        XCTAssertEqual(rows[1].meanSeconds, 20)
        XCTAssertEqual(rows[0].standardDeviation, 0, "one run: no spread")
        XCTAssertNil(rows[2].mean)
        // By lr alone: a's and b's runs together: (0.90 + 0.92 + 0.94 + 0.95) / 4.
        let byRate = SweepRow.table(planned: planned, results: results, by: ["lr"])
        XCTAssertEqual(byRate.map(\.label), ["lr=0.1", "lr=0.2"])
        XCTAssertEqual(byRate[0].planned, 5)
        XCTAssertEqual(byRate[0].mean!, 0.9275, accuracy: 1e-12)
        XCTAssertEqual(byRate[0].meanSeconds!, 16.25, accuracy: 1e-12)
        // By seed: seed 1 is a1, b1 and c1 (unfinished): (0.90 + 0.95) / 2 of 3 planned; seed 3 is a3
        // alone (0.94), seed 2 a2 (0.92) and b2 (unfinished).
        let bySeed = SweepRow.table(planned: planned, results: results, by: ["seed"])
        XCTAssertEqual(bySeed.map(\.label), ["seed=3", "seed=1", "seed=2"])
        XCTAssertEqual(bySeed.map(\.planned), [1, 3, 2])
        XCTAssertEqual(bySeed[1].mean!, 0.925, accuracy: 1e-12)
    }

    func testResultFileReadsBackAndAHalfWrittenOneIsNotAResult() throws {
        let path = folder.appendingPathComponent("result.json").path
        let result = RunResult(point: [("lr", .number(0.1))], seed: 3, testLoss: 0.25, testAccuracy: 0.9, perClassRecall: [0.5, 1],
                               epochs: 2, seconds: 1.5, peakRSSMegabytes: 100, threads: 2, version: "v", openBLASCore: "Zen")
        try result.save(to: path)
        XCTAssertEqual(RunResult.load(path: path), result)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try Data(text.prefix(40).utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertNil(RunResult.load(path: path))
    }
}

private extension JSONValue {
    var serializedNumber: Double { if case let .number(x) = self { return x } else { return .nan } }
}
