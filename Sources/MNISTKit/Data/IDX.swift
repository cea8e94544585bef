/// The element types an IDX file can declare (third byte of its magic number).
public enum IDXElementType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }
}

/// An IDX file that could not be read or is malformed, naming the file.
public enum IDXError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, FileProblem)
    case badMagic(path: String, found: [UInt8])
    case unknownElementType(path: String, code: UInt8)
    case zeroRank(path: String)
    case truncatedHeader(path: String, expectedBytes: Int, foundBytes: Int)
    case dimensionsOverflow(path: String, dimensions: [UInt32])
    case payloadTooLarge(path: String, bytes: Int, limit: Int)
    case truncatedPayload(path: String, expectedBytes: Int, foundBytes: Int)
    case trailingBytes(path: String, expectedBytes: Int)
    case gzipDoesNotInflate(path: String, reason: String)
    case gzipCorrupt(path: String, reason: String)
    case gzipChecksumMismatch(path: String, reason: String)
    case gzipTruncated(path: String)
    case gzipTrailingData(path: String)
    case nestedGzip(path: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case let .unreadable(path, _), let .badMagic(path, _), let .unknownElementType(path, _), let .zeroRank(path),
             let .truncatedHeader(path, _, _), let .dimensionsOverflow(path, _), let .payloadTooLarge(path, _, _),
             let .truncatedPayload(path, _, _), let .trailingBytes(path, _), let .gzipDoesNotInflate(path, _),
             let .gzipCorrupt(path, _), let .gzipChecksumMismatch(path, _), let .gzipTruncated(path),
             let .gzipTrailingData(path), let .nestedGzip(path):
            return path
        }
    }

    /// "<path>: <problem>".
    public var description: String {
        let problem: String
        switch self {
        case let .unreadable(_, reason):
            problem = reason.description
        case let .badMagic(_, found):
            let hex = found.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: " ")
            problem = "not an IDX file: expected magic 00 00 <type> <rank>, found \(hex.isEmpty ? "an empty file" : hex)"
        case let .unknownElementType(_, code):
            problem = "unknown IDX element type 0x\(String(code, radix: 16).leftPadded(to: 2)); expected one of 08 (ubyte), 09 (byte), 0b (short), 0c (int), 0d (float), 0e (double)"
        case .zeroRank:
            problem = "IDX header declares 0 dimensions; expected 1 to 255"
        case let .truncatedHeader(_, expected, found):
            problem = "truncated IDX header: expected \(expected) bytes, found \(found)"
        case let .dimensionsOverflow(_, dimensions):
            problem = "IDX dimensions \(dimensions) describe more bytes than can be addressed"
        case let .payloadTooLarge(_, bytes, limit):
            problem = "IDX header declares \(bytes) bytes of data, more than this file can hold (\(limit) bytes at most)"
        case let .truncatedPayload(_, expected, found):
            problem = "truncated IDX data: the header declares \(expected) bytes, found \(found)"
        case let .trailingBytes(_, expected):
            problem = "IDX data is longer than the \(expected) bytes its header declares"
        case let .gzipDoesNotInflate(_, reason):
            problem = "looks gzip-compressed (starts with 1f 8b) but does not inflate: \(reason)"
        case let .gzipCorrupt(_, reason):
            problem = "corrupt gzip data: \(reason)"
        case let .gzipChecksumMismatch(_, reason):
            problem = "gzip CRC mismatch, the file is damaged: \(reason)"
        case .gzipTruncated:
            problem = "gzip stream ends early: the file is truncated"
        case .gzipTrailingData:
            problem = "unexpected bytes after the end of the gzip stream"
        case .nestedGzip:
            problem = "a gzip file inside a gzip file (compressed twice?); decompress it once with gunzip"
        }
        return "\(path): \(problem)"
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// An IDX array: element type, dimensions, and the payload bytes as stored (big-endian).
public struct IDXArray: Sendable, Equatable {
    /// The element type the magic number declares.
    public let elementType: IDXElementType
    /// The dimensions the header declares, outermost first.
    public let dimensions: [Int]
    /// The elements' bytes, big-endian as stored.
    public let payload: [UInt8]

    /// The number of elements: the product of the dimensions.
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Every element converted to Float (big-endian decoding for multi-byte types).
    public func floats() -> [Float] {
        payload.withUnsafeBytes { raw in
            (0 ..< elementCount).map { i in
                switch elementType {
                case .uint8: return Float(raw[i])
                case .int8: return Float(Int8(bitPattern: raw[i]))
                case .int16: return Float(Int16(bitPattern: UInt16(bigEndianBytes: raw, at: i * 2)))
                case .int32: return Float(Int32(bitPattern: UInt32(bigEndianBytes: raw, at: i * 4)))
                case .float32: return Float(bitPattern: UInt32(bigEndianBytes: raw, at: i * 4))
                case .float64: return Float(Double(bitPattern: UInt64(bigEndianBytes: raw, at: i * 8)))
                }
            }
        }
    }
}

extension FixedWidthInteger where Self: UnsignedInteger {
    init(bigEndianBytes raw: UnsafeRawBufferPointer, at offset: Int) {
        var value: Self = 0
        for k in 0 ..< MemoryLayout<Self>.size { value = value << 8 | Self(raw[offset + k]) }
        self = value
    }
}

/// Reading and writing the IDX format (LeCun's MNIST files), raw or gzip-compressed.
public enum IDX {
    /// Largest payload a gzip-compressed file may declare: deflate cannot expand
    /// data by more than about 1032:1, so a bigger claim is a lie and is refused
    /// before anything is allocated.
    static let maximumDeflateRatio = 1032

    /// Reads an IDX file, gzip-compressed (recognised by its 1f 8b magic, not its
    /// name) or raw, checking every part of it. `maximumPayloadBytes` caps what
    /// a header may make us allocate.
    public static func read(path: String, maximumPayloadBytes: Int = 1 << 31) throws(IDXError) -> IDXArray {
        let file: FileSource
        do { file = try FileSource(path: path) } catch { throw .unreadable(path: path, error) }
        do {
            let start = try file.read(upTo: 2)
            let gzipped = start == [0x1F, 0x8B]
            let source: ByteSource = PrefixedSource(prefix: start, rest: file)
            return try decode(source: gzipped ? GzipSource(source: source) : source, path: path,
                              storedBytes: gzipped ? nil : file.size, compressedBytes: file.size, limit: maximumPayloadBytes)
        } catch let error as IDXError {
            throw error
        } catch let problem as FileProblem {
            throw .unreadable(path: path, problem)
        } catch let problem as InflateProblem {
            throw mapInflate(problem, path: path, atStart: false)
        } catch {
            throw .unreadable(path: path, .system("\(error)"))
        }
    }

    /// Decodes an IDX file held in memory (raw or gzip); `name` stands in for the path in errors.
    public static func decode(bytes: [UInt8], name: String = "<memory>", maximumPayloadBytes: Int = 1 << 31) throws(IDXError) -> IDXArray {
        let gzipped = bytes.starts(with: [0x1F, 0x8B])
        let memory = MemorySource(bytes: bytes)
        do {
            return try decode(source: gzipped ? GzipSource(source: memory) : memory, path: name,
                              storedBytes: gzipped ? nil : bytes.count, compressedBytes: bytes.count, limit: maximumPayloadBytes)
        } catch let error as IDXError {
            throw error
        } catch let problem as InflateProblem {
            throw mapInflate(problem, path: name, atStart: false)
        } catch {
            throw .unreadable(path: name, .system("\(error)"))
        }
    }

    private static func mapInflate(_ problem: InflateProblem, path: String, atStart: Bool) -> IDXError {
        switch problem {
        case let .corrupt(reason): return atStart ? .gzipDoesNotInflate(path: path, reason: reason) : .gzipCorrupt(path: path, reason: reason)
        case let .checksumMismatch(reason): return .gzipChecksumMismatch(path: path, reason: reason)
        case .truncated: return .gzipTruncated(path: path)
        case .trailingData: return .gzipTrailingData(path: path)
        }
    }

    /// `storedBytes` is the size of a raw file (nil for gzip); `compressedBytes` bounds
    /// what a gzip stream can honestly inflate to.
    private static func decode(source: ByteSource, path: String, storedBytes: Int?, compressedBytes: Int, limit: Int) throws -> IDXArray {
        let gzipped = storedBytes == nil
        let magic: [UInt8]
        do { magic = try source.read(upTo: 4) } catch let problem as InflateProblem {
            throw mapInflate(problem, path: path, atStart: true)
        }
        if gzipped, magic.starts(with: [0x1F, 0x8B]) { throw IDXError.nestedGzip(path: path) }
        guard magic.count == 4 else {
            if magic.count >= 2 && magic[0 ..< 2] != [0, 0] { throw IDXError.badMagic(path: path, found: magic) }
            throw IDXError.truncatedHeader(path: path, expectedBytes: 4, foundBytes: magic.count)
        }
        guard magic[0] == 0, magic[1] == 0 else { throw IDXError.badMagic(path: path, found: magic) }
        guard let elementType = IDXElementType(rawValue: magic[2]) else {
            throw IDXError.unknownElementType(path: path, code: magic[2])
        }
        let rank = Int(magic[3])
        guard rank > 0 else { throw IDXError.zeroRank(path: path) }
        let dimensionBytes = try source.read(upTo: 4 * rank)
        guard dimensionBytes.count == 4 * rank else {
            throw IDXError.truncatedHeader(path: path, expectedBytes: 4 + 4 * rank, foundBytes: 4 + dimensionBytes.count)
        }
        let rawDimensions = dimensionBytes.withUnsafeBytes { raw in (0 ..< rank).map { UInt32(bigEndianBytes: raw, at: $0 * 4) } }
        var byteCount = elementType.size
        for dimension in rawDimensions {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: Int(dimension))
            guard !overflow else { throw IDXError.dimensionsOverflow(path: path, dimensions: rawDimensions) }
            byteCount = product
        }
        // Refuse impossible sizes before allocating anything.
        if let storedBytes {
            let available = storedBytes - 4 - 4 * rank
            guard byteCount <= available else {
                throw IDXError.truncatedPayload(path: path, expectedBytes: byteCount, foundBytes: available)
            }
        }
        let deflateCap = compressedBytes.multipliedReportingOverflow(by: maximumDeflateRatio)
        let cap = gzipped && !deflateCap.overflow ? min(limit, deflateCap.partialValue) : limit
        guard byteCount <= cap else { throw IDXError.payloadTooLarge(path: path, bytes: byteCount, limit: cap) }
        var payload = [UInt8](repeating: 0, count: byteCount)
        let got = try payload.withUnsafeMutableBytes { try source.read(into: $0) }
        guard got == byteCount else {
            throw IDXError.truncatedPayload(path: path, expectedBytes: byteCount, foundBytes: got)
        }
        guard try source.isAtEnd() else { throw IDXError.trailingBytes(path: path, expectedBytes: byteCount) }
        return IDXArray(elementType: elementType, dimensions: rawDimensions.map { Int($0) }, payload: payload)
    }

    /// Encodes an IDX file (raw), for tests and tools that write datasets.
    public static func encode(elementType: IDXElementType, dimensions: [Int], payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, elementType.rawValue, UInt8(dimensions.count)]
        for dimension in dimensions {
            let value = UInt32(dimension)
            bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        return bytes + payload
    }
}

/// Bytes already read, then the rest of another source.
final class PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private let rest: ByteSource

    init(prefix: [UInt8], rest: ByteSource) {
        self.prefix = prefix
        self.rest = rest
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let fromPrefix = min(prefix.count, buffer.count)
        if fromPrefix > 0 {
            prefix.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: fromPrefix) }
            prefix.removeFirst(fromPrefix)
        }
        guard fromPrefix < buffer.count else { return fromPrefix }
        return try fromPrefix + rest.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[fromPrefix...]))
    }
}

/// A byte array read as a stream.
final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - position)
        if count > 0 {
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: count) }
            position += count
        }
        return count
    }
}
