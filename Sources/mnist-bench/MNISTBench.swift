import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

/// Trains the seed model for a few epochs and prints what it cost, ending with
/// one JSON object; ratios are measured in one run, since the machine is noisy.
@main
struct MNISTBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-bench",
        abstract: "Measure training speed against the sgemm bound, memory and evaluation time.")

    @Option(help: "Model spec.")
    var config = "dense512.json"

    @Option(help: "Dataset folder (default: the spec's dataset, looked up by name).")
    var data: String?

    @Option(help: "Epochs to train; the epoch time is the median of all but the first.")
    var epochs = 3

    @Option(help: "OpenBLAS threads (default: all cores).")
    var threads: Int?

    @Option(help: "Where to write the checkpoint that mnist-eval is timed on.")
    var output = "/tmp/mnist-bench.ckpt"

    static func main() { runAsTool() }

    func validate() throws {
        if epochs < 2 { throw ValidationError("--epochs must be 2 or more, received: \(epochs)") }
    }

    func run() throws {
        useThreads(threads)
        var spec = try ModelSpec.load(path: config)
        spec.epochs = epochs
        let locator = datasetLocator(data: data)
        let (directory, train, test) = try locator.loadTrainAndTest(spec.dataset)
        let trainer = try Trainer(spec: spec, train: train)

        var epochSeconds = [Double]()
        while trainer.state.epochsCompleted < epochs {
            let report = try trainer.runEpoch()
            epochSeconds.append(report.seconds)
            printOut("epoch \(report.epoch): \(String(format: "%.3f", report.seconds)) s, loss \(fourDecimals(report.loss))")
        }
        let later = epochSeconds.dropFirst().sorted()
        let epochMedian = later.count % 2 == 1 ? later[later.count / 2] : (later[later.count / 2 - 1] + later[later.count / 2]) / 2
        let accuracy = trainer.model.evaluate(test).accuracy
        try Checkpoint(trainer: trainer).save(to: output)

        // The exact sgemm calls of one epoch, back to back, nothing else.
        let batches = trainer.batchesPerEpoch
        let lastBatch = trainer.trainingIndices.count - (batches - 1) * spec.batchSize
        let calls = Array(repeating: trainer.model.sgemmCalls(batch: spec.batchSize), count: batches - 1).joined()
            + trainer.model.sgemmCalls(batch: lastBatch)
        let (sgemmSeconds, flops) = replay(Array(calls))

        let usage = rusage.current()
        let evalSeconds = try timeProcess("mnist-eval", [output, "--data", directory])

        let result = JSONValue.object([
            ("epoch_seconds", .number(rounded(epochMedian))),
            ("samples_per_second", .number(Double(Int(Double(trainer.trainingIndices.count) / epochMedian)))),
            ("gemm_gflops", .number(rounded(flops / sgemmSeconds / 1e9, 1))),
            ("sgemm_bound_seconds", .number(rounded(sgemmSeconds))),
            ("epoch_over_sgemm_bound", .number(rounded(epochMedian / sgemmSeconds, 2))),
            ("peak_rss_mb", .number(rounded(Double(usage.ru_maxrss) / 1024, 1))),
            ("eval_seconds", .number(rounded(evalSeconds))),
            ("test_accuracy", .number(accuracy)),
            ("threads", .number(Double(BLAS.threadCount))),
            ("openblas_core", .string(BLAS.coreName)),
        ])
        printOut(result.serialized)
    }

    /// Times `calls` run back to back on buffers as large as the largest call
    /// needs; returns the median of three runs, in seconds, and the FLOPs.
    func replay(_ calls: [GEMMCall]) -> (Double, Double) {
        let a = FloatBuffer(count: calls.map(\.sizes.a).max() ?? 1), b = FloatBuffer(count: calls.map(\.sizes.b).max() ?? 1)
        let c = FloatBuffer(count: calls.map(\.sizes.c).max() ?? 1)
        a.fill(0.01)
        b.fill(0.02)
        var times = [Double]()
        for _ in 0 ..< 3 {
            let start = DispatchTime.now().uptimeNanoseconds
            for call in calls {
                sgemm(transposeA: call.transposeA, transposeB: call.transposeB, m: call.m, n: call.n, k: call.k,
                      a: a.pointer, lda: call.lda, b: b.pointer, ldb: call.ldb, c: c.pointer, ldc: call.ldc)
            }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (times.sorted()[1], calls.reduce(0) { $0 + $1.flops })
    }

    /// Wall time of one whole run of a sibling executable.
    func timeProcess(_ tool: String, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw UsageError("\(tool) failed with status \(process.terminationStatus)", status: ExitStatus.software) }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func rounded(_ value: Double, _ digits: Int = 3) -> Double {
        let scale = pow(10, Double(digits))
        return (value * scale).rounded() / scale
    }
}

extension rusage {
    static func current() -> rusage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage
    }
}
