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
        abstract: "Measure training speed against the sgemm bound, memory and evaluation time.",
        version: toolVersion)

    @Option(help: "Model spec.")
    var config = "dense512.json"

    @Option(help: "Dataset folder (default: the spec's dataset, looked up by name).")
    var data: String?

    @Option(help: "Epochs to train; the epoch time is the median of all but the first.")
    var epochs = 3

    @Option(help: "Threads (default: all cores); the same count gives the same results.")
    var threads: Int?

    @Option(help: "Where to write the checkpoint that mnist-eval is timed on.")
    var output = "/tmp/mnist-bench.ckpt"

    @Option(help: "An earlier run's output (its JSON line): after this run's figures, each figure's ratio to it (this run / the earlier).")
    var baseline: String?

    static func main() { runAsTool() }

    func validate() throws {
        try validateThreads(threads)
        if epochs < 2 { throw ValidationError("--epochs must be 2 or more, received: \(epochs)") }
    }

    func run() throws {
        // Read first: a bad baseline must not cost a benchmark.
        let earlier = try baseline.map(readBaseline)
        let workers = workerPool(threads: threads)
        var spec = try ModelSpec.load(path: config, searchDirectories: configSearchDirectories())
        spec.epochs = epochs
        let locator = datasetLocator(data: data)
        let (directory, train, test) = try locator.loadTrainAndTest([spec.dataset], labels: LabelSettings(spec: spec), images: ImageSettings(spec: spec))
        let trainer = try Trainer(spec: spec, train: train, workers: workers)

        // The sgemm bound: the exact calls of one epoch's steps, each thread's
        // share on the pool, back to back with nothing else. Beside it, the same
        // products as whole calls threaded by OpenBLAS. Both are timed after
        // every epoch, so they see the same load as the epoch on this noisy machine.
        let batches = trainer.batchesPerEpoch
        let lastBatch = trainer.trainingIndices.count - (batches - 1) * spec.batchSize
        // The bound keeps its definition: the products of the plain algorithms (im2col
        // convolutions). Beside it, the products the step makes (with Winograd's).
        func epochCalls(on pool: WorkerPool, plain: Bool = true) -> [[[GEMMCall]]] {
            Array(Array(repeating: trainer.model.sgemmCalls(batch: spec.batchSize, workers: pool, plainAlgorithms: plain), count: batches - 1).joined()
                + trainer.model.sgemmCalls(batch: lastBatch, workers: pool, plainAlgorithms: plain))
        }
        let stepCalls = epochCalls(on: workers), ownCalls = epochCalls(on: workers, plain: false)
        let wholeCalls = epochCalls(on: .serial).flatMap { $0[0] }
        let stepOperands = (0 ..< workers.count).map { _ in Operands(for: (stepCalls + ownCalls).flatMap { $0.flatMap { $0 } }) }
        let wholeOperands = Operands(for: wholeCalls)
        var epochSeconds = [Double](), sgemmSeconds = [Double](), ownSeconds = [Double](), wholeSeconds = [Double]()
        while trainer.state.epochsCompleted < epochs {
            let report = try trainer.runEpoch()
            epochSeconds.append(report.seconds)
            sgemmSeconds.append(replay(stepCalls, on: workers, operands: stepOperands))
            ownSeconds.append(replay(ownCalls, on: workers, operands: stepOperands))
            wholeSeconds.append(replay(wholeCalls, openBLASThreads: workers.count, operands: wholeOperands))
            printOut("epoch \(report.epoch): \(seconds(report.seconds)), the plain algorithms' sgemm calls alone \(seconds(sgemmSeconds.last!))"
                + " (as whole OpenBLAS-threaded calls \(seconds(wholeSeconds.last!))), the step's own \(seconds(ownSeconds.last!)), loss \(fourDecimals(report.loss))")
        }
        let epochMedian = median(epochSeconds.dropFirst()), sgemmMedian = median(sgemmSeconds.dropFirst())
        let wholeMedian = median(wholeSeconds.dropFirst()), ownMedian = median(ownSeconds.dropFirst())
        let flops = wholeCalls.reduce(0) { $0 + $1.flops }
        let accuracy = trainer.model.evaluate(test, workers: workers).accuracy
        try Checkpoint(trainer: trainer).save(to: output)
        let steps = interleavedSteps(trainer, train: train, workers: workers, count: 400)
        if let steps {
            printOut(String(format: "one step (medians of 400): %.2f ms, of which the optimizer update %.2f ms and gathering the batch %.2f ms; its sgemm calls alone, between steps, %.2f ms",
                            steps.step * 1e3, (steps.step - steps.withoutUpdate) * 1e3, steps.gather * 1e3, steps.sgemm * 1e3))
        }

        let layers = layerBreakdown(trainer, train: train, workers: workers, count: 50)
        printOut("per layer (medians of 50 steps, ms): " + layers.map { "\($0.layer) \(String(format: "%.2f", $0.forwardSeconds * 1e3))/\(String(format: "%.2f", $0.backwardSeconds * 1e3))" }.joined(separator: ", "))

        let usage = rusage.current()
        let evalSeconds = try timeProcess("mnist-eval", [output, "--data", directory])

        let result = JSONValue.object([
            ("epoch_seconds", .number(rounded(epochMedian))),
            ("samples_per_second", .number(Double(Int(Double(trainer.trainingIndices.count) / epochMedian)))),
            ("gemm_gflops", .number(rounded(flops / sgemmMedian / 1e9, 1))),
            ("sgemm_bound_seconds", .number(rounded(sgemmMedian))),
            ("epoch_over_sgemm_bound", .number(rounded(epochMedian / sgemmMedian, 2))),
            ("own_sgemm_seconds", .number(rounded(ownMedian))),
            ("epoch_over_own_sgemm", .number(rounded(epochMedian / ownMedian, 2))),
            ("step_over_sgemm_bound", steps.map { .number(rounded($0.step / $0.sgemm, 2)) } ?? .null),
            ("step_breakdown_ms", steps?.breakdown ?? .null),
            ("layer_forward_backward_ms", .object(layers.filter { $0.forwardSeconds + $0.backwardSeconds > 0 }.map {
                ($0.layer, .array([.number(rounded($0.forwardSeconds * 1e3, 2)), .number(rounded($0.backwardSeconds * 1e3, 2))]))
            })),
            ("openblas_threaded_sgemm_seconds", .number(rounded(wholeMedian))),
            ("epoch_over_openblas_threaded_sgemm", .number(rounded(epochMedian / wholeMedian, 2))),
            ("peak_rss_mb", .number(rounded(Double(usage.ru_maxrss) / 1024, 1))),
            ("eval_seconds", .number(rounded(evalSeconds))),
            ("test_accuracy", .number(accuracy)),
            ("threads", .number(Double(workers.count))),
            ("openblas_core", .string(BLAS.coreName)), ("built_for", .string(BuildTarget.requiredCPU.isEmpty ? "x86-64" : BuildTarget.requiredCPU)),
        ])
        guard let earlier, let baseline, case let .object(now) = result else {
            printOut(result.serialized)
            return
        }
        // Each figure both runs have, as this run's over the earlier's (below 1: smaller now).
        let ratios: [(key: String, value: JSONValue)] = now.compactMap { key, value in
            guard case let .number(current) = value, case let .number(before)? = earlier[key], before != 0 else { return nil }
            return (key, .number(rounded(current / before, 3)))
        }
        printOut("against \(baseline): " + ratios.map { "\($0.key) \($0.value.serialized)x" }.joined(separator: ", "))
        printOut(JSONValue.object(now + [("baseline", .string(baseline)), ("ratio_to_baseline", .object(ratios))]).serialized)
    }

    /// The JSON object an earlier run printed last (its whole output, or that line alone).
    func readBaseline(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, path: "", message: FileManager.default.fileExists(atPath: path) ? "cannot read the baseline" : "no such file",
                              isMissingFile: !FileManager.default.fileExists(atPath: path))
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").reversed()
        for line in lines where line.hasPrefix("{") {
            if let json = try? JSONParser.parse(String(line)), case .object = json, json["epoch_seconds"] != nil { return json }
        }
        throw ConfigError(file: path, path: "", message: "holds no mnist-bench result (a JSON line with epoch_seconds)")
    }

    /// Medians over interleaved full-batch steps (seconds): the whole step
    /// (gather included), the same step without the optimizer's update, the
    /// gather alone, and a replay of the step's exact sgemm calls.
    struct StepTimes {
        var step: Double, withoutUpdate: Double, gather: Double, sgemm: Double

        /// The step and two of its parts, in milliseconds. Not "the rest": the
        /// replay's operands are colder than the step's, so a difference of the
        /// two would understate it.
        var breakdown: JSONValue {
            func ms(_ seconds: Double) -> JSONValue { .number((seconds * 1e5).rounded() / 100) }
            return .object([("step", ms(step)), ("optimizer_update", ms(step - withoutUpdate)), ("gather", ms(gather))])
        }
    }

    /// Rotates, `count` times, a training step on a full batch, the same step's
    /// forward and backward without the update, and a replay of the step's exact
    /// sgemm calls; medians are steadier than whole epochs while the machine's
    /// speed drifts, and each replay starts from caches a step has just used.
    /// Trains the model on, after it has been evaluated and saved.
    func interleavedSteps(_ trainer: Trainer, train: Dataset, workers: WorkerPool, count: Int) -> StepTimes? {
        let model = trainer.model, B = trainer.spec.batchSize
        var indices = trainer.trainingIndices
        guard indices.count >= B else { return nil }
        var generator = RandomGenerator(seed: 0)
        generator.shuffle(&indices) // random rows, as an epoch gathers them
        let calls = model.sgemmCalls(batch: B, workers: workers, plainAlgorithms: true)
        let operands = (0 ..< workers.count).map { _ in Operands(for: calls.flatMap { $0.flatMap { $0 } }) }
        let workspace = model.makeWorkspace(capacity: B, training: true, threads: workers.count)
        var step = [Double](), withoutUpdate = [Double](), gather = [Double](), sgemm = [Double]()
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        withDenormalsFlushedToZero {
            for k in 0 ..< count {
                let first = k * B % (indices.count - B + 1)
                for updating in [true, false] {
                    let start = now()
                    indices.withUnsafeBufferPointer { model.gather(UnsafeBufferPointer(rebasing: $0[first ..< first + B]), from: train, into: workspace, workers: workers) }
                    let gathered = now()
                    if updating {
                        _ = model.trainStep(workspace, B: B, optimizer: trainer.optimizer, workers: workers, dropout: &generator)
                        step.append(Double(now() - start) / 1e9)
                        gather.append(Double(gathered - start) / 1e9)
                    } else {
                        _ = model.lossAndGradients(workspace, B: B, workers: workers, dropout: &generator)
                        withoutUpdate.append(Double(now() - start) / 1e9)
                    }
                }
                sgemm.append(replay(calls, on: workers, operands: operands))
            }
        }
        return StepTimes(step: median(step), withoutUpdate: median(withoutUpdate), gather: median(gather), sgemm: median(sgemm))
    }

    /// Medians, over `count` full-batch training steps, of each layer's forward
    /// and backward time (the update included in backward, as the step fuses it).
    func layerBreakdown(_ trainer: Trainer, train: Dataset, workers: WorkerPool, count: Int) -> [LayerTimes] {
        let model = trainer.model, B = min(trainer.spec.batchSize, trainer.trainingIndices.count)
        let workspace = model.makeWorkspace(capacity: B, training: true, threads: workers.count)
        var generator = RandomGenerator(seed: 0)
        let samples: [[LayerTimes]] = withDenormalsFlushedToZero {
            (0 ..< count).map { k in
                let first = k * B % (trainer.trainingIndices.count - B + 1)
                trainer.trainingIndices.withUnsafeBufferPointer {
                    model.gather(UnsafeBufferPointer(rebasing: $0[first ..< first + B]), from: train, into: workspace, workers: workers)
                }
                return model.timeLayers(workspace, B: B, optimizer: trainer.optimizer, workers: workers, dropout: &generator)
            }
        }
        return samples[0].indices.map { i in
            LayerTimes(layer: samples[0][i].layer, forwardSeconds: median(samples.map { $0[i].forwardSeconds }),
                       backwardSeconds: median(samples.map { $0[i].backwardSeconds }))
        }
    }

    /// Runs each phase's calls on the pool, thread t making its share, with
    /// OpenBLAS single-threaded as in the step; returns seconds.
    func replay(_ phases: [[[GEMMCall]]], on workers: WorkerPool, operands: [Operands]) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for phase in phases {
            workers.run { t in
                for call in phase[t] { operands[t].multiply(call) }
            }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Runs whole calls one after another, OpenBLAS threading each; returns seconds.
    func replay(_ calls: [GEMMCall], openBLASThreads: Int, operands: Operands) -> Double {
        BLAS.threadCount = openBLASThreads
        defer { BLAS.threadCount = 1 }
        let start = DispatchTime.now().uptimeNanoseconds
        for call in calls { operands.multiply(call) }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func seconds(_ value: Double) -> String { String(format: "%.3f s", value) }

    /// The median of `values` (the mean of the middle two when even).
    func median(_ values: some Collection<Double>) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
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
        guard process.terminationStatus == 0 else { throw ToolFailure(description: "\(tool) failed with status \(process.terminationStatus)") }
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

/// Buffers as large as the largest of some calls need, to replay them on.
final class Operands {
    let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer

    init(for calls: [GEMMCall]) {
        a = FloatBuffer(count: calls.map(\.sizes.a).max() ?? 1)
        b = FloatBuffer(count: calls.map(\.sizes.b).max() ?? 1)
        c = FloatBuffer(count: calls.map(\.sizes.c).max() ?? 1)
        a.fill(0.01)
        b.fill(0.02)
    }

    func multiply(_ call: GEMMCall) {
        sgemm(transposeA: call.transposeA, transposeB: call.transposeB, m: call.m, n: call.n, k: call.k,
              a: a.pointer, lda: call.lda, b: b.pointer, ldb: call.ldb, c: c.pointer, ldc: call.ldc)
    }
}

/// A sibling tool that failed while being timed: a bug, exit 70.
struct ToolFailure: Error, CustomStringConvertible {
    let description: String
}
