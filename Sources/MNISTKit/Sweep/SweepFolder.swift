import Foundation

// A sweep's folder: `plan.json` (every run: name, point, seed, command),
// `commands.txt` (one mnist-train command per line, for any scheduler) and
// `runs/<name>/` with the run's `spec.json`, and, once it has run, its
// checkpoint, log and `result.json`. The commands are self-contained and safe
// to repeat (`mnist-train --continue`), so a folder can be run, stopped,
// continued, or shared between machines (a run being trained is claimed by a
// `claim` file in its folder, so two sweeps never train it at once).

/// A sweep folder that cannot be written, or read back.
public struct SweepFolderError: MNISTKitError, Equatable {
    /// The file or folder.
    public let path: String
    /// What went wrong.
    public let message: String
    /// Whether the folder could not be written (else it could not be read).
    public let cannotWrite: Bool
    public var category: ErrorCategory { cannotWrite ? .cannotWrite : .badInput }
    public var description: String { "\(path): \(message)" }
}

/// One planned run as the folder records it.
public struct PlannedRun: Sendable {
    /// The run's folder name.
    public let name: String
    /// Its point (without the seed).
    public let point: [(key: String, value: JSONValue)]
    /// Its seed.
    public let seed: UInt64
    /// The mnist-train command that runs it (one shell line).
    public let command: String
}

public enum SweepFolder {
    /// The run's folder.
    public static func runFolder(_ directory: String, _ name: String) -> String {
        ((directory as NSString).appendingPathComponent("runs") as NSString).appendingPathComponent(name)
    }

    /// The result file of a run.
    public static func resultPath(_ directory: String, _ name: String) -> String {
        (runFolder(directory, name) as NSString).appendingPathComponent("result.json")
    }

    /// Writes the plan of `sweep` into `directory`: each run's spec, `plan.json`
    /// and `commands.txt`; returns the planned runs. `trainTool` is the mnist-train
    /// to call; paths in the commands are absolute, so they run from any folder.
    /// A run folder whose spec differs from the plan's is an error: a changed
    /// sweep needs a folder of its own.
    public static func writePlan(_ sweep: Sweep, runs: [SweepRun], to directory: String, trainTool: String, threads: Int?) throws(SweepFolderError) -> [PlannedRun] {
        let root = absolutePath(directory)
        var planned = [PlannedRun]()
        for run in runs {
            let folder = runFolder(root, run.name)
            try makeFolder(folder)
            let specPath = (folder as NSString).appendingPathComponent("spec.json")
            let specText = run.spec.json.serialized + "\n"
            if let existing = FileManager.default.contents(atPath: specPath) {
                guard String(decoding: existing, as: UTF8.self) == specText else {
                    throw SweepFolderError(path: specPath, message: "differs from this sweep's plan for the run; a changed sweep needs another --out folder", cannotWrite: true)
                }
            } else {
                try write(specText, to: specPath)
            }
            var words = [trainTool, "--config", specPath]
            if let data = sweep.data { words += ["--data", FileManager.default.fileExists(atPath: data) ? absolutePath(data) : data] }
            words += ["--output", (folder as NSString).appendingPathComponent("model.ckpt"), "--result", resultPath(root, run.name),
                      "--point", run.pointJSON.serialized]
            if let threads { words += ["--threads", String(threads)] }
            words += ["--continue", "--quiet"]
            planned.append(PlannedRun(name: run.name, point: run.point, seed: run.seed, command: words.map(shellQuoted).joined(separator: " ")))
        }
        let plan = JSONValue.object([
            ("sweep", .string(absolutePath(sweep.path))),
            ("runs", .array(planned.map { .object([("name", .string($0.name)), ("point", .object($0.point)), ("seed", .number(Double($0.seed))),
                                                   ("command", .string($0.command))]) })),
        ])
        try write(plan.serialized + "\n", to: (root as NSString).appendingPathComponent("plan.json"))
        try write(planned.map { $0.command + "\n" }.joined(), to: (root as NSString).appendingPathComponent("commands.txt"))
        return planned
    }

    /// Claims a run for this process: `runs/<name>/claim` (host and process id), made only if
    /// absent, so that sweeps sharing the folder from several machines never train one run
    /// twice at once. A claim of this host whose process is gone is stale and taken over.
    /// False: another process holds it.
    public static func claim(_ directory: String, _ name: String) throws(SweepFolderError) -> Bool {
        let path = claimPath(directory, name)
        let host = ProcessInfo.processInfo.hostName
        for _ in 0 ..< 2 {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 {
                let text = Array("\(host) \(getpid())\n".utf8)
                let written = text.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
                close(descriptor)
                guard written == text.count else {
                    unlink(path)
                    throw SweepFolderError(path: path, message: "cannot write the claim file", cannotWrite: true)
                }
                return true
            }
            guard errno == EEXIST else { throw SweepFolderError(path: path, message: "cannot make the claim file: \(String(cString: strerror(errno)))", cannotWrite: true) }
            let words = (FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: " ")
            let stale = words.count == 2 && words[0] == host && Int32(words[1].trimmingCharacters(in: .whitespacesAndNewlines)).map { kill($0, 0) != 0 && errno == ESRCH } == true
            guard stale else { return false }
            unlink(path)
        }
        return false
    }

    /// Gives a claimed run back (it finished, failed or was interrupted).
    public static func release(_ directory: String, _ name: String) { unlink(claimPath(directory, name)) }

    static func claimPath(_ directory: String, _ name: String) -> String {
        (runFolder(directory, name) as NSString).appendingPathComponent("claim")
    }

    /// The planned runs of a sweep folder and the results of those that finished (by name).
    public static func read(_ directory: String) throws(SweepFolderError) -> (planned: [PlannedRun], results: [String: RunResult]) {
        let planPath = (directory as NSString).appendingPathComponent("plan.json")
        guard let data = FileManager.default.contents(atPath: planPath) else {
            throw SweepFolderError(path: planPath, message: "no sweep plan here; make one with mnist-sweep plan SWEEP --out \(directory)", cannotWrite: false)
        }
        guard let json = try? JSONParser.parse([UInt8](data)), case let .array(items)? = json["runs"] else {
            throw SweepFolderError(path: planPath, message: "is not a sweep plan (expected {\"runs\": [...]})", cannotWrite: false)
        }
        var planned = [PlannedRun](), results = [String: RunResult]()
        for (index, item) in items.enumerated() {
            guard case let .string(name)? = item["name"], !name.contains("/"), name != "..", case let .object(point)? = item["point"],
                  case let .number(seed)? = item["seed"], seed >= 0, seed < 1.8e19, case let .string(command)? = item["command"] else {
                throw SweepFolderError(path: planPath, message: "runs[\(index)] is not a planned run (name, point, seed, command)", cannotWrite: false)
            }
            planned.append(PlannedRun(name: name, point: point, seed: UInt64(seed), command: command))
            if let result = RunResult.load(path: resultPath(directory, name)) { results[name] = result }
        }
        return (planned, results)
    }

    private static func makeFolder(_ folder: String) throws(SweepFolderError) {
        if let reason = makeFolders(folder) { throw SweepFolderError(path: folder, message: "cannot make the run folder: \(reason)", cannotWrite: true) }
    }

    private static func write(_ text: String, to path: String) throws(SweepFolderError) {
        do { try writeAtomically(Array(text.utf8), to: path, what: "file") } catch {
            throw SweepFolderError(path: path, message: error.message, cannotWrite: true)
        }
    }
}
