// The safetensors format (huggingface/safetensors), as a generic reader and
// writer: an 8-byte little-endian header length, a JSON header mapping each
// tensor's name to its dtype, shape and byte range (plus an optional
// `__metadata__` of strings), then the raw little-endian data. Checkpoints are
// this plus our metadata; weights from other frameworks arrive in it.

/// A problem with a safetensors file, naming the file.
public struct SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// The file.
    public let path: String
    /// What is wrong, in words for the `error:` line.
    public let message: String
    /// The file does not exist (exit 66 rather than 65).
    public let isMissingFile: Bool

    /// An error about the safetensors file at `path`.
    public init(path: String, message: String, isMissingFile: Bool = false) {
        (self.path, self.message, self.isMissingFile) = (path, message, isMissingFile)
    }

    /// "<path>: <message>".
    public var description: String { "\(path): \(message)" }
}

/// Tensors and string metadata, as a safetensors file holds them. Values are
/// kept as Float whatever the stored dtype; F16 and BF16 convert exactly.
public struct SafetensorsFile {
    /// The element types read (all converted to Float) and written.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"

        var byteCount: Int { self == .f32 ? 4 : 2 }
    }

    /// One named tensor: its shape and values in row-major order.
    public struct Tensor: Sendable {
        /// The tensor's name (`dense_1.kernel`).
        public var name: String
        /// Its dimensions, outermost first.
        public var shape: [Int]
        /// Its values, row-major, as Float whatever the stored dtype.
        public var values: [Float]
        /// How the file stored it (written files store F32).
        public var dtype: DType = .f32

        /// A tensor stored as `dtype` when written (values are rounded to it).
        public init(name: String, shape: [Int], values: [Float], dtype: DType = .f32) {
            (self.name, self.shape, self.values, self.dtype) = (name, shape, values, dtype)
        }
    }

    /// `__metadata__`, in file order.
    public var metadata: [(key: String, value: String)]
    /// In file order (by data offset when read).
    public var tensors: [Tensor]
    /// CRC-32 of the data section as read (checkpoints store and check it).
    public private(set) var dataCRC32: UInt32 = 0

    /// A file of `tensors` with string `metadata` (written as `__metadata__`, in this order).
    public init(metadata: [(key: String, value: String)] = [], tensors: [Tensor]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The metadata value for `key`, if present.
    public func metadata(_ key: String) -> String? { metadata.first { $0.key == key }?.value }
    /// The tensor called `name`, if present.
    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.name == name } }

    /// Headers larger than this are refused before they are parsed.
    public static let maximumHeaderBytes = 16 << 20

    // MARK: Writing

    /// The data section alone: every tensor's F32 values, in order.
    public func dataSection() -> [UInt8] {
        var data = [UInt8]()
        data.reserveCapacity(tensors.reduce(0) { $0 + $1.values.count * 4 })
        for tensor in tensors {
            for value in tensor.values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        }
        return data
    }

    /// The file's bytes: tensors as F32 in order, the header padded with spaces
    /// so the data starts 8-byte aligned, as safetensors writes it. `metadata`
    /// may depend on the data section (a checksum): it is called with it.
    public func encoded(metadata extra: ([UInt8]) -> [(key: String, value: String)] = { _ in [] }) -> [UInt8] {
        let data = dataSection()
        var entries = [(key: String, value: JSONValue)]()
        var offset = 0
        for tensor in tensors {
            let end = offset + tensor.values.count * 4
            entries.append((tensor.name, .object([
                ("dtype", .string("F32")),
                ("shape", .array(tensor.shape.map { .number(Double($0)) })),
                ("data_offsets", .array([.number(Double(offset)), .number(Double(end))])),
            ])))
            offset = end
        }
        let allMetadata = metadata + extra(data)
        let head: [(key: String, value: JSONValue)] = allMetadata.isEmpty ? [] : [("__metadata__", .object(allMetadata.map { ($0.key, .string($0.value)) }))]
        var header = Array(JSONValue.object(head + entries).serialized.utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + data.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes + header + data
    }

    /// Writes the file atomically (see `Checkpoint.save`).
    public func save(to path: String) throws(CheckpointError) {
        try writeAtomically(encoded(), to: path)
    }

    // MARK: Reading

    /// Reads and checks a whole file; larger than `maximumBytes` is refused before reading.
    public static func load(path: String, maximumBytes: Int = 1 << 31) throws(SafetensorsError) -> SafetensorsFile {
        try decode(readBytes(path: path, maximumBytes: maximumBytes), path: path)
    }

    /// A whole file's bytes, refused before reading when larger than `maximumBytes`.
    static func readBytes(path: String, maximumBytes: Int, noun: String = "this tool reads") throws(SafetensorsError) -> [UInt8] {
        do {
            let file = try FileSource(path: path)
            guard file.size <= maximumBytes else {
                throw FileProblem.system("\(file.size) bytes is larger than \(noun) (\(maximumBytes) bytes at most)")
            }
            return try file.read(upTo: file.size)
        } catch let problem as FileProblem {
            throw SafetensorsError(path: path, message: problem.description, isMissingFile: problem == .notFound)
        } catch {
            throw SafetensorsError(path: path, message: "\(error)")
        }
    }

    /// Parses and checks every part: header length and JSON, each tensor's
    /// dtype, shape and offsets (in bounds, matching dtype × shape, no overlap
    /// or gap, nothing left over), metadata values being strings.
    public static func decode(_ bytes: [UInt8], path: String) throws(SafetensorsError) -> SafetensorsFile {
        func fail(_ message: String) -> SafetensorsError { SafetensorsError(path: path, message: message) }
        guard bytes.count >= 8 else { throw fail("truncated: \(bytes.count) bytes, too short for a safetensors file") }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes): truncated or not a safetensors file")
        }
        guard headerLength <= UInt64(maximumHeaderBytes) else { throw fail("header of \(headerLength) bytes is larger than \(maximumHeaderBytes)") }
        let headerEnd = 8 + Int(headerLength)
        let header: JSONValue
        do { header = try JSONParser.parse(Array(bytes[8 ..< headerEnd])) } catch {
            throw fail("damaged header: \(error.description)")
        }
        guard case let .object(members) = header else { throw fail("damaged header: expected a JSON object") }
        var metadata = [(key: String, value: String)]()
        if let value = header["__metadata__"] {
            guard case let .object(items) = value else { throw fail("damaged header: __metadata__ is not an object") }
            for item in items {
                guard case let .string(text) = item.value else { throw fail("damaged header: __metadata__.\(item.key) is not a string") }
                metadata.append((item.key, text))
            }
        }

        // Entries: dtype, shape, offsets, all checked before any data is read.
        let dataSize = bytes.count - headerEnd
        var entries = [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)]()
        for member in members where member.key != "__metadata__" {
            let name = member.key
            let dtypes = DType.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            guard case let .string(dtypeName)? = member.value["dtype"], let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor \(name): dtype \(member.value["dtype"]?.kindDescription ?? "missing"), expected one of \(dtypes)")
            }
            guard case let .array(shapeItems)? = member.value["shape"], let shape = shapeItems.integers(), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor \(name): shape is not a list of non-negative integers")
            }
            guard case let .array(offsetItems)? = member.value["data_offsets"], let offsets = offsetItems.integers(),
                  offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor \(name): data_offsets is not a [begin, end] pair")
            }
            guard offsets[1] <= dataSize else {
                throw fail("tensor \(name): data_offsets \(offsets) run past the end of the data (\(dataSize) bytes): truncated")
            }
            var byteCount = dtype.byteCount
            for dimension in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor \(name): shape \(formatShape(shape)) is too large") }
                byteCount = product
            }
            guard offsets[1] - offsets[0] == byteCount else {
                throw fail("tensor \(name): data_offsets \(offsets) hold \(offsets[1] - offsets[0]) bytes, but \(dtype.rawValue) \(formatShape(shape)) needs \(byteCount)")
            }
            entries.append((name, dtype, shape, offsets[0], offsets[1]))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for entry in entries {
            guard entry.begin >= covered || entry.begin == entry.end else { throw fail("tensor \(entry.name): its data overlaps another tensor's") }
            guard entry.begin == covered || entry.begin == entry.end else { throw fail("data section has a gap before tensor \(entry.name)") }
            covered = max(covered, entry.end)
        }
        guard covered == dataSize else { throw fail("data section has \(dataSize - covered) bytes that belong to no tensor") }

        let tensors = bytes.withUnsafeBytes { raw in
            entries.map { entry in
                let start = headerEnd + entry.begin, count = (entry.end - entry.begin) / entry.dtype.byteCount
                let values: [Float] = (0 ..< count).map { k in
                    switch entry.dtype {
                    case .f32: return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * k, as: UInt32.self)))
                    case .f16: return Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * k, as: UInt16.self))))
                    case .bf16: return Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * k, as: UInt16.self))) << 16)
                    }
                }
                return Tensor(name: entry.name, shape: entry.shape, values: values, dtype: entry.dtype)
            }
        }
        var file = SafetensorsFile(metadata: metadata, tensors: tensors)
        file.dataCRC32 = bytes.withUnsafeBytes { crc32Checksum(UnsafeRawBufferPointer(rebasing: $0[headerEnd...])) }
        return file
    }
}
