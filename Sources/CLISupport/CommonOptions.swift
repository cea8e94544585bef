import ArgumentParser
import Foundation
import MNISTKit

/// `--threads N`: 1 to 256.
public func validateThreads(_ threads: Int?) throws {
    if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be from 1 to 256, received: \(threads)") }
}

/// The step's threads for `--threads N`, or all cores. The step splits its
/// products between them itself, so OpenBLAS is set to one thread.
public func workerPool(threads: Int?) -> WorkerPool {
    BLAS.threadCount = 1
    return WorkerPool(count: threads ?? ProcessInfo.processInfo.activeProcessorCount)
}

/// Dataset lookup for `--data PATH` (and `--test-data PATH`), then `$MNIST_DATA_DIR`, `data/`, `/usr/share/datasets`.
public func datasetLocator(data: String?, testData: String? = nil) -> DatasetLocator {
    DatasetLocator(explicitPath: data, explicitTestPath: testData, environmentDirectory: ProcessInfo.processInfo.environment["MNIST_DATA_DIR"])
}

/// Where `--config NAME` is looked up after the name itself: `configs/` here,
/// then `share/mnist-train/configs` beside the folder of the running tool (where
/// `make install` puts the examples).
public func configSearchDirectories() -> [String] {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let prefix = executable.deletingLastPathComponent().deletingLastPathComponent()
    return ["configs", prefix.appendingPathComponent("share/mnist-train/configs").path]
}

/// Runs `load` (finding a checkpoint's data); when the data cannot be found,
/// the error says which folder the checkpoint was trained on and how to pass it.
public func findingData<T>(of checkpoint: Checkpoint?, path: String?, _ load: () throws -> T) throws -> T {
    do { return try load() } catch let error as DatasetError {
        guard case .notFound = error, let checkpoint, let path else { throw error }
        let folder = checkpoint.datasetFolder.map { "the folder \"\($0)\"" } ?? "\"\(checkpoint.dataset)\""
        let digest = checkpoint.datasetSHA256.map { ", test split SHA-256 \($0.prefix(12))..." } ?? ""
        throw UsageError("\(error); \(path) was trained on \(folder)\(digest): pass that data as --data PATH", category: .missingFile)
    }
}

/// Checks a checkpoint against the data it is about to evaluate or resume on:
/// other images or another class count are an error (65); other data of the
/// same shape (by test-split digest, else by name) earns a warning, returned
/// for the command to print.
public func checkDataset(of checkpoint: Checkpoint, path: String, against data: Dataset, doing: String) throws -> String? {
    if let shape = checkpoint.imageShape, let classes = checkpoint.classNames?.count, shape != data.imageShape || classes != data.classCount {
        throw UsageError("\(path): trained on \(checkpoint.dataset), images of \(formatShape(shape)) in \(classes) classes; \(data.name) has images of \(formatShape(data.imageShape)) in \(data.classCount) classes",
                         category: .badInput)
    }
    if let trained = checkpoint.datasetSHA256, let given = data.testSHA256 {
        guard trained != given else { return nil }
        let names = data.name == checkpoint.dataset ? " (test split SHA-256 \(trained.prefix(12))... and \(given.prefix(12))...)" : ""
        return "warning: model trained on \(checkpoint.dataset), \(doing) \(data.name)\(names)"
    }
    return data.name != checkpoint.dataset ? "warning: model trained on \(checkpoint.dataset), \(doing) \(data.name)" : nil
}
