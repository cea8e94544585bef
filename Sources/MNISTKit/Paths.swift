import Foundation

// Paths and shell words for the commands a tool prints (a resume command, a
// sweep's plan): absolute, so they run from any folder, and quoted only where
// a POSIX shell needs it.

/// `path` from the root: relative paths are taken from the working folder.
public func absolutePath(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return URL(fileURLWithPath: full).standardizedFileURL.path
}

/// A word as a POSIX shell reads it back: quoted only when it needs to be.
public func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "/._-+=:,@%".contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}

/// Makes `folder` and its parents (mkdir -p); on failure, the system's reason
/// (or which part of the path is a file), for an error line naming the folder.
func makeFolders(_ folder: String) -> String? {
    var prefix = folder.hasPrefix("/") ? "/" : ""
    for component in folder.split(separator: "/") {
        prefix += component + "/"
        var status = stat()
        if stat(prefix, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { continue }
        guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else { return String(cString: strerror(errno)) }
        guard stat(prefix, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return "\(String(prefix.dropLast())) is not a folder" }
    }
    return nil
}
