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

/// Dataset lookup for `--data DIR`, then `$MNIST_DATA_DIR`, `data/`, `/usr/share/datasets`.
public func datasetLocator(data: String?) -> DatasetLocator {
    DatasetLocator(explicitDirectory: data, environmentDirectory: ProcessInfo.processInfo.environment["MNIST_DATA_DIR"])
}

/// Where `--config NAME` is looked up after the name itself: `configs/` here,
/// then `share/mnist-train/configs` beside the folder of the running tool (where
/// `make install` puts the examples).
public func configSearchDirectories() -> [String] {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let prefix = executable.deletingLastPathComponent().deletingLastPathComponent()
    return ["configs", prefix.appendingPathComponent("share/mnist-train/configs").path]
}

/// The name of the data a command runs on: `--data DIR`'s folder name, else the
/// name it was looked up by.
public func datasetName(data: String?, lookedUp name: String) -> String {
    data.map { URL(fileURLWithPath: $0).standardizedFileURL.lastPathComponent } ?? name
}

/// Checks a checkpoint against the data it is about to evaluate or resume on:
/// other images or another class count are an error (65); another dataset of
/// the same shape earns a warning, returned for the command to print.
public func checkDataset(of checkpoint: Checkpoint, path: String, against data: Dataset, named name: String, doing: String) throws -> String? {
    if let shape = checkpoint.imageShape, let classes = checkpoint.classNames?.count, shape != data.imageShape || classes != data.classCount {
        throw UsageError("\(path): trained on \(checkpoint.dataset), images of \(formatShape(shape)) in \(classes) classes; \(name) has images of \(formatShape(data.imageShape)) in \(data.classCount) classes",
                         category: .badInput)
    }
    return name != checkpoint.dataset ? "warning: model trained on \(checkpoint.dataset), \(doing) \(name)" : nil
}
