import Foundation

/// A forward-only stream of bytes: a plain file, or a gzip stream inflating one.
protocol ByteSource: AnyObject {
    /// Fills as much of `buffer` as the stream holds; fewer bytes only at its end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Reads up to `count` bytes; fewer only at the end of the stream.
    func read(upTo count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try read(into: $0) }
        return Array(bytes[..<got])
    }

    /// True when the stream holds no more bytes.
    func isAtEnd() throws -> Bool { try read(upTo: 1).isEmpty }
}

/// Why a file could not be opened or read, in the system's words.
public enum FileProblem: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound
    case isDirectory
    case system(String)

    /// The problem in words for an `error:` line.
    public var description: String {
        switch self {
        case .notFound: return "no such file"
        case .isDirectory: return "is a directory, expected a file"
        case let .system(reason): return reason
        }
    }
}

/// A read-only file, read in chunks with POSIX calls.
final class FileSource: ByteSource {
    let path: String
    private let descriptor: Int32
    /// Size in bytes when opened.
    let size: Int

    init(path: String) throws(FileProblem) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw errno == ENOENT || errno == ENOTDIR ? .notFound : .system(String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw .isDirectory }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(String(cString: strerror(errno))) }
        self.descriptor = descriptor
        self.size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let got = Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            if got < 0 {
                if errno == EINTR { continue }
                throw FileProblem.system(String(cString: strerror(errno)))
            }
            if got == 0 { break }
            filled += got
        }
        return filled
    }
}
