import Foundation

/// Writes `bytes` to `path` so that readers see the old file or the new one,
/// never a torn one: temporary file beside it, fsync, rename, fsync the folder.
func writeAtomically(_ bytes: [UInt8], to path: String) throws(CheckpointError) {
    func fail(_ what: String, _ target: String) -> CheckpointError {
        CheckpointError(path: target, message: "cannot \(what): \(String(cString: strerror(errno)))")
    }
    let directory = (path as NSString).deletingLastPathComponent
    let folder = directory.isEmpty ? "." : directory
    let temporary = "\(path).tmp-\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw fail("write checkpoint", path) }
    var written = 0
    let failure: CheckpointError? = bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let count = write(descriptor, raw.baseAddress! + written, raw.count - written)
            if count < 0 {
                if errno == EINTR { continue }
                return fail("write checkpoint", path)
            }
            written += count
        }
        return fsync(descriptor) == 0 ? nil : fail("write checkpoint", path)
    }
    close(descriptor)
    if let failure {
        unlink(temporary)
        throw failure
    }
    guard rename(temporary, path) == 0 else {
        let error = fail("write checkpoint", path)
        unlink(temporary)
        throw error
    }
    let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if folderDescriptor >= 0 {
        fsync(folderDescriptor)
        close(folderDescriptor)
    }
}
