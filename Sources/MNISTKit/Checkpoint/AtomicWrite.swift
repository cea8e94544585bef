import Foundation

/// Writes `bytes` to `path` so that readers see the old file or the new one,
/// never a torn one: temporary file beside it, fsync, rename, fsync the folder.
func writeAtomically(_ bytes: [UInt8], to path: String, what: String = "checkpoint") throws(CheckpointError) {
    func fail(_ what: String, _ target: String) -> CheckpointError {
        CheckpointError(path: target, message: "cannot \(what): \(String(cString: strerror(errno)))", kind: .cannotWrite)
    }
    let directory = (path as NSString).deletingLastPathComponent
    let folder = directory.isEmpty ? "." : directory
    let temporary = "\(path).tmp-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw fail("write \(what)", path) }
    var written = 0
    let failure: CheckpointError? = bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let count = write(descriptor, raw.baseAddress! + written, raw.count - written)
            if count < 0 {
                if errno == EINTR { continue }
                return fail("write \(what)", path)
            }
            written += count
        }
        return fsync(descriptor) == 0 ? nil : fail("write \(what)", path)
    }
    close(descriptor)
    if let failure {
        unlink(temporary)
        throw failure
    }
    guard rename(temporary, path) == 0 else {
        let error = fail("write \(what)", path)
        unlink(temporary)
        throw error
    }
    let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if folderDescriptor >= 0 {
        fsync(folderDescriptor)
        close(folderDescriptor)
    }
}

/// Why a checkpoint path cannot be used, found before any training.
public enum OutputPathProblem: Error, Equatable, CustomStringConvertible {
    /// The path names a folder (or ends in "/").
    case isFolder(path: String)
    /// Something else is there: writing would destroy a file that is not a checkpoint.
    case notACheckpoint(path: String)
    /// Something else is there: writing would destroy a file that is not a weights file of ours.
    case notAWeightsFile(path: String)
    /// The folder is missing or refuses new files: the system's reason.
    case cannotWrite(path: String, reason: String)

    /// The message for the `error:` line, naming the path.
    public var description: String {
        switch self {
        case let .isFolder(path):
            return "\(path): is a folder; name the checkpoint file, e.g. \((path as NSString).appendingPathComponent("model.ckpt"))"
        case let .notACheckpoint(path):
            return "\(path): exists and is not an mnist-train checkpoint; not overwriting it; choose another path"
        case let .notAWeightsFile(path):
            return "\(path): exists and is not a weights file written by mnist-export; not overwriting it; choose another path"
        case let .cannotWrite(path, reason):
            return "\(path): cannot write checkpoint: \(reason)"
        }
    }
}

/// Checks, before training, that a checkpoint (or, with `weightsOnly`, a weights file) can be
/// written to `path`: not a folder, not some other file, and its folder takes new files (a file
/// is created there and removed, which also catches read-only file systems).
public func checkCheckpointPath(_ path: String, weightsOnly: Bool = false) throws(OutputPathProblem) {
    var isDirectory: ObjCBool = false
    if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
        throw .isFolder(path: path)
    }
    if FileManager.default.fileExists(atPath: path) {
        if weightsOnly {
            let file = try? SafetensorsFile.load(path: path)
            guard file?.metadata.first(where: { $0.key == "format" })?.value == Model.weightsFormat else { throw .notAWeightsFile(path: path) }
        } else {
            do { _ = try Checkpoint.load(path: path) } catch { throw .notACheckpoint(path: path) }
        }
    }
    let directory = (path as NSString).deletingLastPathComponent
    let probe = "\(directory.isEmpty ? "." : directory)/.mnist-train-probe-\(getpid())"
    let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    close(descriptor)
    unlink(probe)
}
