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
