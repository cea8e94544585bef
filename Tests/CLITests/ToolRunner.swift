import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// Runs a built executable of this package and captures what it did.
struct ToolResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let signaled: Bool
    let seconds: Double
    /// The child's peak resident memory, as last seen in /proc/PID/status (VmHWM)
    /// while it ran: wait4's figure would include this test process's memory,
    /// which a spawned child is charged with until it execs.
    let peakMemoryMB: Double

    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// The folder holding the built products (beside the test bundle).
let productsDirectory: URL = {
    if let override = ProcessInfo.processInfo.environment["MNIST_BIN_DIR"] { return URL(fileURLWithPath: override) }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}()

/// Starts `argv` with posix_spawn: the test's environment without MNIST_DATA_DIR,
/// plus `environment`; stdin from /dev/null, stdout to the file (or terminal)
/// `stdout`, stderr to `stderr` or, when nil, to the same place as stdout.
func spawn(_ argv: [String], environment: [String: String], stdout: String, stderr: String?) throws -> pid_t {
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "MNIST_DATA_DIR")
    for (key, value) in environment { env[key] = value }
    let cArguments = argv.map { strdup($0) } + [nil]
    let cEnvironment = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (cArguments + cEnvironment).forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if let stderr {
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
    return pid
}

/// Runs a built tool with posix_spawn and watches it until it exits: exit status,
/// signal, time and peak memory.
func runTool(_ tool: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
             timeout: Double = 120) throws -> ToolResult {
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
    let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    let executable = productsDirectory.appendingPathComponent(tool).path
    // A working directory goes through sh, which then execs the tool in its place.
    let command = directory.map { ["/bin/sh", "-c", "cd \"$1\" && shift && exec \"$0\" \"$@\"", executable, $0.path] } ?? [executable]
    let start = Date()
    let pid = try spawn(command + arguments, environment: environment, stdout: outFile.path, stderr: errFile.path)
    var status: Int32 = 0
    var peakKB = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
            peakKB = max(peakKB, kilobytes)
        }
        if Date().timeIntervalSince(start) > timeout {
            kill(pid, SIGKILL)
            XCTFail("\(tool) \(arguments) did not finish within \(timeout) s")
        }
        usleep(1_000)
    }
    let signal = status & 0x7F
    return ToolResult(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal,
                      stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "",
                      signaled: signal != 0,
                      seconds: Date().timeIntervalSince(start),
                      peakMemoryMB: Double(peakKB) / 1024)
}

/// Asserts the documented failure shape: the exit status, no signal, and exactly
/// one `error:` line on stderr containing `message`.
func assertFailure(_ result: ToolResult, status: Int32, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertLessThan(result.seconds, 20, "took \(result.seconds) s", file: file, line: line)
    XCTAssertLessThan(result.peakMemoryMB, 150, "peaked at \(result.peakMemoryMB) MB", file: file, line: line)
    XCTAssertFalse(result.signaled, "killed by a signal: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.status, status, "stderr: \(result.stderr)", file: file, line: line)
    // One error line; a command-line mistake adds the usage line and a pointer to --help.
    let extra = result.stderrLines.dropFirst()
    XCTAssertTrue(extra.isEmpty || (status == 64 && extra.count == 2 && extra.first!.hasPrefix("Usage: ") && extra.last!.contains("--help")),
                  "expected one error line on stderr: \(result.stderr)", file: file, line: line)
    XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr, file: file, line: line)
    XCTAssertTrue(result.stderr.contains(message), "\(result.stderr) lacks \(message)", file: file, line: line)
}

/// A temporary folder with a small synthetic 10-class dataset of 4×4 images
/// (gzip IDX files in MNIST's names) and a config that trains on it.
final class Sandbox {
    let root: URL
    var data: URL { root.appendingPathComponent("data/synthetic") }
    var config: URL { root.appendingPathComponent("synthetic.json") }

    init(trainCount: Int = 400, testCount: Int = 100, configText: String? = nil) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try write(split: "train", count: trainCount, seed: 1)
        try write(split: "t10k", count: testCount, seed: 2)
        try Data((configText ?? Sandbox.config(epochs: 3)).utf8).write(to: config)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    static func config(epochs: Int, optimizer: String = #"{"type": "rmsprop", "learning_rate": 0.01}"#, extra: String = "") -> String {
        """
        {"name": "synthetic", "dataset": "synthetic", "input_shape": [4, 4],
         "layers": [{"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"},
                    {"type": "dense", "units": 10, "activation": "softmax"}],
         "loss": "categorical_crossentropy", "optimizer": \(optimizer),
         "epochs": \(epochs), "batch_size": 32\(extra)}
        """
    }

    func write(split: String, count: Int, seed: UInt64) throws {
        let dataset = syntheticDataset(count: count, seed: seed)
        try Data(IDX.encode(elementType: .uint8, dimensions: [count, 4, 4], payload: dataset.images))
            .write(to: data.appendingPathComponent("\(split)-images-idx3-ubyte"))
        try Data(IDX.encode(elementType: .uint8, dimensions: [count], payload: dataset.labels))
            .write(to: data.appendingPathComponent("\(split)-labels-idx1-ubyte"))
    }

    func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// Writes a config file with a fresh name and returns its path.
    func writeConfig(_ text: String) throws -> String {
        let path = path("c-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// The package's root folder, found from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `arguments` (a program on PATH, or a path) in `directory`: its status and output,
/// stderr included unless `keepErrors` is false.
func runProcess(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
                keepErrors: Bool = true) throws -> (status: Int32, output: String) {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    process.standardOutput = output
    process.standardError = keepErrors ? output : FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs python3 with `arguments` (in `directory`): its status and stdout (stderr too with `keepErrors`).
func python(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil,
            keepErrors: Bool = false) throws -> (status: Int32, stdout: String) {
    let result = try runProcess(["python3"] + arguments, in: directory, environment: environment, keepErrors: keepErrors)
    return (result.status, result.output)
}
