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

    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// The folder holding the built products (beside the test bundle).
let productsDirectory: URL = {
    if let override = ProcessInfo.processInfo.environment["MNIST_BIN_DIR"] { return URL(fileURLWithPath: override) }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}()

func runTool(_ tool: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:],
         timeout: Double = 120) throws -> ToolResult {
    let process = Process()
    process.executableURL = productsDirectory.appendingPathComponent(tool)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "MNIST_DATA_DIR")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
    let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("err-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    FileManager.default.createFile(atPath: errFile.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    process.standardOutput = try FileHandle(forWritingTo: outFile)
    process.standardError = try FileHandle(forWritingTo: errFile)
    process.standardInput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    while process.isRunning {
        if Date().timeIntervalSince(start) > timeout {
            process.terminate()
            XCTFail("\(tool) \(arguments) did not finish within \(timeout) s")
        }
        usleep(10_000)
    }
    return ToolResult(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "",
                      signaled: process.terminationReason == .uncaughtSignal,
                      seconds: Date().timeIntervalSince(start))
}

/// Asserts the documented failure shape: the exit status, no signal, and exactly
/// one `error:` line on stderr containing `message`.
func assertFailure(_ result: ToolResult, status: Int32, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertLessThan(result.seconds, 20, "took \(result.seconds) s", file: file, line: line)
    XCTAssertFalse(result.signaled, "killed by a signal: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.status, status, "stderr: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderrLines.count, 1, "expected one line on stderr: \(result.stderr)", file: file, line: line)
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
}

/// The package's root folder, found from this file's location.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
