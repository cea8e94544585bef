import ArgumentParser
import CLISupport
import Foundation
import MNISTKit

@main
struct MNISTSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-sweep",
        abstract: "Plan many mnist-train runs (a grid, random draws, seeds), run them on any scheduler, and collect one table.",
        discussion: """
            A sweep file names a config, keys to set, a grid, random draws and seeds (docs/SWEEPS.md). \
            `plan` writes each run's spec and prints one self-contained mnist-train command per line \
            (for GNU parallel, ssh hosts or a Slurm array); `run` runs the plan here; `collect` prints the table. \
            Every command is safe to repeat: a finished run is skipped, an interrupted one continues. \
            Exit codes: 0 ok, 1 a run failed or the accuracy fell short, 64 bad command line, 65 bad input, \
            66 missing file, 73 cannot write, 130 interrupted by SIGINT, 143 by SIGTERM.
            """,
        version: toolVersion,
        subcommands: [Plan.self, Run.self, Collect.self])

    static func main() { runAsTool() }
}

/// What `plan` and `run` share: the sweep file and the folder.
struct SweepOptions: ParsableArguments {
    @Argument(help: "The sweep file (JSON).")
    var sweep: String

    @Option(help: "The sweep's folder: runs/<name>/ per run, plan.json, commands.txt.")
    var out: String

    /// The sweep, planned into `out`.
    func plan(threads: Int?) throws -> [PlannedRun] {
        let sweep = try Sweep(path: self.sweep, configSearch: configSearchDirectories())
        return try SweepFolder.writePlan(sweep, runs: try sweep.plan(), to: out, trainTool: siblingTool("mnist-train"), threads: threads)
    }
}

/// The path of another of our tools beside this one (found through PATH when this one was).
func siblingTool(_ name: String) -> String {
    let me = CommandLine.arguments[0]
    guard me.contains("/") else { return name }
    let folder = (URL(fileURLWithPath: me).standardizedFileURL.deletingLastPathComponent().path as NSString)
    return folder.appendingPathComponent(name)
}

extension MNISTSweep {
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every run's spec under --out and print one mnist-train command per line (or a Slurm array script).")

        @OptionGroup var options: SweepOptions

        @Option(help: "Threads each run trains on (the same count gives the same bytes).")
        var threads = 1

        @Flag(help: "Print an sbatch script that runs line $SLURM_ARRAY_TASK_ID of the plan instead.")
        var slurm = false

        func validate() throws { try validateThreads(threads) }

        func run() throws {
            let runs = try options.plan(threads: threads)
            guard slurm else {
                printOut(runs.map(\.command).joined(separator: "\n"))
                return
            }
            let commands = (absolutePath(options.out) as NSString).appendingPathComponent("commands.txt")
            printOut("""
                #!/bin/bash
                #SBATCH --job-name=mnist-sweep
                #SBATCH --array=1-\(runs.count)
                #SBATCH --cpus-per-task=\(threads)
                #SBATCH --output=\(absolutePath(options.out))/slurm-%A_%a.out
                # Line $SLURM_ARRAY_TASK_ID of the plan: one mnist-train run, safe to repeat (--continue).
                eval "$(sed -n "${SLURM_ARRAY_TASK_ID}p" \(shellQuoted(commands)))"
                """)
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the plan here, N runs at a time; again, it skips finished runs and continues interrupted ones.")

        @OptionGroup var options: SweepOptions

        @Option(help: "Runs at a time.")
        var jobs = 1

        @Option(help: "Threads each run trains on (default: the cores divided among the jobs).")
        var threads: Int?

        func validate() throws {
            if jobs < 1 { throw ValidationError("--jobs must be a positive integer, received: \(jobs)") }
            try validateThreads(threads)
        }

        func run() throws {
            let threads = self.threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / jobs)
            let runs = try options.plan(threads: threads)
            let finished = Set(try SweepFolder.read(options.out).results.keys)
            let waiting = runs.filter { !finished.contains($0.name) }
            printOut("\(runs.count) runs planned, \(runs.count - waiting.count) finished before; running \(waiting.count), \(jobs) at a time, \(counted(threads, "thread")) each")
            Interruption.install()
            let start = DispatchTime.now().uptimeNanoseconds
            var queue = waiting[...], running = [pid_t: PlannedRun](), done = 0, failed = [String](), forwarded = false
            // Runs another process (here or on another machine sharing the folder) is training, or has finished meanwhile.
            var elsewhere = [String]()
            func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            while (!queue.isEmpty && Interruption.received == nil) || !running.isEmpty {
                // The runs are in process groups of their own: pass the signal on, once, so each
                // finishes its batch and keeps its checkpoint.
                if let signal = Interruption.received, !forwarded {
                    for pid in running.keys { kill(pid, signal) }
                    forwarded = true
                }
                while Interruption.received == nil, running.count < jobs, let next = queue.popFirst() {
                    guard try SweepFolder.claim(options.out, next.name) else {
                        elsewhere.append(next.name)
                        continue
                    }
                    if RunResult.load(path: SweepFolder.resultPath(options.out, next.name)) != nil {
                        SweepFolder.release(options.out, next.name)
                        elsewhere.append(next.name)
                        continue
                    }
                    let log = (SweepFolder.runFolder(options.out, next.name) as NSString).appendingPathComponent("train.log")
                    do { running[try spawnShell(next.command, log: log)] = next } catch {
                        SweepFolder.release(options.out, next.name)
                        throw error
                    }
                }
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                if pid <= 0 {
                    usleep(50_000)
                    continue
                }
                guard let finishedRun = running.removeValue(forKey: pid) else { continue }
                SweepFolder.release(options.out, finishedRun.name)
                let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                if Interruption.received != nil { continue }
                done += 1
                let total = waiting.count - elsewhere.count, left = total - done
                let estimate = left > 0 ? ", about \(clock(elapsed() / Double(done) * Double(left))) left" : ""
                if exit == 0, let result = RunResult.load(path: SweepFolder.resultPath(options.out, finishedRun.name)) {
                    printOut("[\(done)/\(total)] \(finishedRun.name): test_accuracy \(fourDecimals(result.testAccuracy)) in \(String(format: "%.1f", result.seconds)) s; \(clock(elapsed())) elapsed\(estimate)")
                } else {
                    failed.append(finishedRun.name)
                    let log = (SweepFolder.runFolder(options.out, finishedRun.name) as NSString).appendingPathComponent("train.log")
                    let lastLine = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? ""
                    printError("error: run \(finishedRun.name) failed (exit \(exit)): \(lastLine) (log: \(log))")
                }
            }
            if !elsewhere.isEmpty {
                let pending = elsewhere.filter { RunResult.load(path: SweepFolder.resultPath(options.out, $0)) == nil }
                printOut("\(counted(elsewhere.count, "run")) left to another process sharing the folder" + (pending.isEmpty ? " (all finished)" :
                    "; \(pending.count) not finished yet: run this again later (a claim file in a run's folder marks it taken; delete it if no process is training that run)"))
            }
            if let signal = Interruption.received {
                let finishedNow = try SweepFolder.read(options.out).results.count
                printError("error: interrupted by \(Interruption.name(signal)); \(finishedNow) of \(runs.count) runs finished, the others keep their checkpoints; the same command continues the sweep")
                throw ExitCode(Interruption.exitStatus(signal))
            }
            if !failed.isEmpty { throw ExitCode(1) }
        }

        private func clock(_ seconds: Double) -> String {
            let whole = Int(seconds.rounded())
            return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60) : String(format: "%d:%02d", whole / 60, whole % 60)
        }
    }

    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one row per point: runs finished of planned, test accuracy mean, sd, min, max and mean seconds, best first.")

        @Argument(help: "The sweep's folder (--out of plan or run).")
        var directory: String

        enum Format: String, ExpressibleByArgument, CaseIterable { case markdown, csv, json, benchmark }

        @Option(help: "markdown, csv, json, or benchmark (github-action-benchmark's custom JSON).")
        var format = Format.markdown

        @Option(help: "Group by these keys only, averaging over the rest (repeat for more; `seed` gives a row per seed).")
        var by: [String] = []

        @Option(name: .customLong("min-mean-accuracy"), help: "Exit 1 when a row's mean test accuracy is below this (or none finished).")
        var minMeanAccuracy: Double?

        func run() throws {
            let (planned, results) = try SweepFolder.read(directory)
            let keys = planned.first.map { $0.point.map(\.key) } ?? []
            for key in by where !keys.contains(key) && key != "seed" {
                throw UsageError("--by \(key): not a key of this sweep's points; they are \((keys + ["seed"]).joined(separator: ", "))")
            }
            let rows = SweepRow.table(planned: planned.map { ($0.point, $0.seed, $0.name) }, results: results, by: by.isEmpty ? nil : by)
            printOut(format.render(rows, keys: by.isEmpty ? keys : by))
            if let minMeanAccuracy {
                let short = rows.filter { ($0.mean ?? -1) < minMeanAccuracy }
                if !short.isEmpty {
                    let list = short.map { "\($0.label) \($0.mean.map(fourDecimals) ?? "(no run finished)")" }.joined(separator: "; ")
                    printError("error: \(directory): mean test accuracy below --min-mean-accuracy \(minMeanAccuracy): \(list)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

extension MNISTSweep.Collect.Format {
    func render(_ rows: [SweepRow], keys: [String]) -> String {
        func value(_ row: SweepRow, _ key: String) -> JSONValue { row.point.first { $0.key == key }?.value ?? .null }
        func figure(_ x: Double?) -> String { x.map(fourDecimals) ?? "" }
        func seconds(_ x: Double?) -> String { x.map { String(format: "%.1f", $0) } ?? "" }
        switch self {
        case .markdown:
            let header = keys + ["runs", "test accuracy (mean)", "sd", "min", "max", "seconds (mean)"]
            let lines = rows.map { row -> [String] in
                let figures: [String] = ["\(row.accuracies.count)/\(row.planned)", figure(row.mean), figure(row.standardDeviation),
                                         figure(row.accuracies.min()), figure(row.accuracies.max()), seconds(row.meanSeconds)]
                return keys.map { value(row, $0).bareText } + figures
            }
            return ([header, header.map { _ in "---" }] + lines).map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n")
        case .csv:
            func field(_ s: String) -> String { s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
            let header = keys + ["finished", "planned", "mean", "sd", "min", "max", "seconds"]
            func plain(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
            let lines = rows.map { row -> [String] in
                let figures: [String] = [String(row.accuracies.count), String(row.planned), plain(row.mean), plain(row.standardDeviation),
                                         plain(row.accuracies.min()), plain(row.accuracies.max()), plain(row.meanSeconds)]
                return keys.map { value(row, $0).bareText } + figures
            }
            return ([header] + lines).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n")
        case .json:
            func number(_ x: Double?) -> JSONValue { x.map { .number($0) } ?? .null }
            return JSONValue.array(rows.map { row in
                .object([("point", .object(row.point)), ("finished", .number(Double(row.accuracies.count))), ("planned", .number(Double(row.planned))),
                         ("mean", number(row.mean)), ("sd", number(row.standardDeviation)), ("min", number(row.accuracies.min())),
                         ("max", number(row.accuracies.max())), ("seconds", number(row.meanSeconds)),
                         ("accuracies", .array(row.accuracies.map { .number($0) }))])
            }).serialized
        case .benchmark:
            return JSONValue.array(rows.compactMap { row in
                guard let mean = row.mean else { return nil }
                return .object([("name", .string(row.label)), ("unit", .string("test accuracy")), ("value", .number(mean)),
                                ("range", .string("± \(fourDecimals(row.standardDeviation ?? 0))")),
                                ("extra", .string("\(row.accuracies.count) of \(row.planned) runs, \(seconds(row.meanSeconds)) s a run"))])
            }).serialized
        }
    }
}

/// Starts `command` with /bin/sh in a process group of its own (Ctrl-C reaches
/// this process alone, which passes one SIGINT on), its output into `log`.
func spawnShell(_ command: String, log: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)
    var pid: pid_t = 0
    let argv = ["/bin/sh", "-c", "exec " + command]
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    let status = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArguments, environ)
    guard status == 0 else { throw SpawnError(message: "cannot start /bin/sh for a run: \(String(cString: strerror(status)))") }
    return pid
}

/// A run that could not be started.
struct SpawnError: MNISTKitError {
    let message: String
    var category: ErrorCategory { .cannotWrite }
    var description: String { message }
}
