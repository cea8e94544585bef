import Foundation

/// What one finished run leaves beside its checkpoint (`mnist-train --result`):
/// written whole at the very end, so a run that has one is finished.
public struct RunResult: Equatable, Sendable {
    /// The settings the run tried (a sweep's point; empty outside a sweep).
    public var point: [(key: String, value: JSONValue)]
    /// Its seed.
    public var seed: UInt64
    /// Final figures on the test split.
    public var testLoss: Double, testAccuracy: Double
    /// Each class's recall on the test split.
    public var perClassRecall: [Double]
    /// Epochs trained in all.
    public var epochs: Int
    /// Seconds from the process's start to its result (a resumed run: this process only).
    public var seconds: Double
    /// The process's peak resident memory.
    public var peakRSSMegabytes: Double
    /// Threads it trained on.
    public var threads: Int
    /// The tool's version and OpenBLAS' kernel.
    public var version: String, openBLASCore: String

    public static func == (lhs: RunResult, rhs: RunResult) -> Bool { lhs.json == rhs.json }

    /// A result from its parts.
    public init(point: [(key: String, value: JSONValue)], seed: UInt64, testLoss: Double, testAccuracy: Double, perClassRecall: [Double],
                epochs: Int, seconds: Double, peakRSSMegabytes: Double, threads: Int, version: String, openBLASCore: String) {
        (self.point, self.seed, self.testLoss, self.testAccuracy, self.perClassRecall) = (point, seed, testLoss, testAccuracy, perClassRecall)
        (self.epochs, self.seconds, self.peakRSSMegabytes, self.threads) = (epochs, seconds, peakRSSMegabytes, threads)
        (self.version, self.openBLASCore) = (version, openBLASCore)
    }

    /// The result file's JSON.
    public var json: JSONValue {
        .object([
            ("point", .object(point)), ("seed", .number(Double(seed))),
            ("test_loss", .number(testLoss)), ("test_accuracy", .number(testAccuracy)),
            ("per_class_recall", .array(perClassRecall.map { .number($0) })), ("epochs", .number(Double(epochs))),
            ("seconds", .number((seconds * 100).rounded() / 100)), ("peak_rss_mb", .number((peakRSSMegabytes * 10).rounded() / 10)),
            ("threads", .number(Double(threads))), ("version", .string(version)), ("openblas_core", .string(openBLASCore)),
        ])
    }

    /// Reads a result file; nil when it is missing or is not one (a run that has not finished).
    public static func load(path: String) -> RunResult? {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSONParser.parse([UInt8](data)),
              case let .object(point)? = json["point"], case let .number(seed)? = json["seed"], seed >= 0, seed < 1.8e19,
              case let .number(loss)? = json["test_loss"], case let .number(accuracy)? = json["test_accuracy"],
              case let .array(recalls)? = json["per_class_recall"], case let .number(epochs)? = json["epochs"], abs(epochs) < 1e9,
              case let .number(seconds)? = json["seconds"], case let .number(rss)? = json["peak_rss_mb"],
              case let .number(threads)? = json["threads"], abs(threads) < 1e9,
              case let .string(version)? = json["version"], case let .string(core)? = json["openblas_core"] else { return nil }
        let recall = recalls.compactMap { value -> Double? in if case let .number(x) = value { return x } else { return nil } }
        return RunResult(point: point, seed: UInt64(seed), testLoss: loss, testAccuracy: accuracy, perClassRecall: recall, epochs: Int(epochs),
                         seconds: seconds, peakRSSMegabytes: rss, threads: Int(threads), version: version, openBLASCore: core)
    }

    /// Writes the file whole (a temporary file renamed into place).
    public func save(to path: String) throws(CheckpointError) {
        try writeAtomically(Array((json.serialized + "\n").utf8), to: path, what: "result file")
    }
}

/// One row of a sweep's table: a point (or, with `by`, a group of points) and its runs' statistics.
public struct SweepRow: Equatable, Sendable {
    /// The settings that define the row.
    public let point: [(key: String, value: JSONValue)]
    /// Runs planned for it, and the test accuracies of those finished (in plan order).
    public let planned: Int
    public let accuracies: [Double]
    /// Mean seconds a finished run took.
    public let meanSeconds: Double?

    public static func == (lhs: SweepRow, rhs: SweepRow) -> Bool {
        JSONValue.object(lhs.point) == JSONValue.object(rhs.point) && lhs.planned == rhs.planned && lhs.accuracies == rhs.accuracies && lhs.meanSeconds == rhs.meanSeconds
    }

    /// Mean test accuracy (nil: nothing finished).
    public var mean: Double? { accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count) }
    /// Sample standard deviation (n - 1; 0 for one run).
    public var standardDeviation: Double? {
        guard let mean else { return nil }
        guard accuracies.count > 1 else { return 0 }
        return (accuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(accuracies.count - 1)).squareRoot()
    }

    /// The row's settings as `key=value, ...` ("all runs" when there are none).
    public var label: String {
        point.isEmpty ? "all runs" : point.map { "\($0.key)=\($0.value.bareText)" }.joined(separator: ", ")
    }

    /// The table of a sweep: one row per point of `planned` (or per value of the
    /// `by` keys, averaging over the rest; `seed` is a key too), best mean
    /// accuracy first, rows with nothing finished last.
    public static func table(planned: [(point: [(key: String, value: JSONValue)], seed: UInt64, name: String)], results: [String: RunResult],
                             by keys: [String]? = nil) -> [SweepRow] {
        var order = [String](), groups = [String: (point: [(key: String, value: JSONValue)], planned: Int, results: [RunResult])]()
        for run in planned {
            let withSeed = run.point + [("seed", .number(Double(run.seed)))]
            let point = keys.map { keys in withSeed.filter { keys.contains($0.key) } } ?? run.point
            let id = JSONValue.object(point).serialized
            if groups[id] == nil { order.append(id); groups[id] = (point, 0, []) }
            groups[id]!.planned += 1
            if let result = results[run.name] { groups[id]!.results.append(result) }
        }
        let rows = order.map { id -> SweepRow in
            let group = groups[id]!
            let seconds = group.results.isEmpty ? nil : group.results.map(\.seconds).reduce(0, +) / Double(group.results.count)
            return SweepRow(point: group.point, planned: group.planned, accuracies: group.results.map(\.testAccuracy), meanSeconds: seconds)
        }
        // Stable: equal means keep the plan's order.
        return rows.enumerated().sorted { a, b in
            switch (a.element.mean, b.element.mean) {
            case let (x?, y?): return x != y ? x > y : a.offset < b.offset
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.offset < b.offset
            }
        }.map(\.element)
    }
}
