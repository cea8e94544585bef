import Foundation

// NumPy's .npy format (numpy.lib.format): the magic `\x93NUMPY`, a version,
// a header length, a Python dict literal giving `descr` (the dtype), `fortran_order`
// and `shape`, then the values. Keras' `mnist.npz` is a zip of four such files.
// The file is hostile input: the header is parsed strictly and every size is
// checked against the bytes present before anything is allocated.

/// A .npy file that cannot be used, and why.
public struct NumPyError: Error, Equatable, CustomStringConvertible {
    /// The file (or `archive.npz: entry.npy`).
    public let path: String
    /// What is wrong.
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// An integer array read from a .npy file.
public struct NumPyArray: Equatable, Sendable {
    /// The integer dtypes read: (un)signed 1, 2, 4 and 8 bytes.
    public enum ElementType: String, Sendable, CaseIterable {
        case uint8 = "u1", int8 = "i1", uint16 = "u2", int16 = "i2", uint32 = "u4", int32 = "i4", uint64 = "u8", int64 = "i8"

        /// Bytes per value.
        public var size: Int { Int(String(rawValue.dropFirst()))! }
        var signed: Bool { rawValue.hasPrefix("i") }
    }

    /// The dtype.
    public let elementType: ElementType
    /// The shape (C order).
    public let shape: [Int]
    /// The values as stored, little-endian.
    public let payload: [UInt8]

    /// The number of values.
    public var count: Int { shape.reduce(1, *) }

    /// The values as integers (for labels of any integer dtype).
    public var integers: [Int64] {
        let size = elementType.size
        return (0 ..< count).map { k in
            var bits: UInt64 = 0
            for b in 0 ..< size { bits |= UInt64(payload[k * size + b]) << (8 * b) }
            guard elementType.signed, size < 8 else { return Int64(bitPattern: bits) }
            let shift = UInt64(64 - 8 * size)
            return Int64(bitPattern: bits << shift) >> Int64(shift)
        }
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads a .npy file's bytes.
    public static func parse(_ bytes: [UInt8], path: String) throws(NumPyError) -> NumPyArray {
        func fail(_ message: String) -> NumPyError { NumPyError(path: path, message: message) }
        guard bytes.count >= 10, bytes.starts(with: magic) else { throw fail("not a NumPy .npy file (no \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (8 ..< 12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw fail("format version \(major).\(bytes[7]) is not one NumPy writes (1, 2 or 3)")
        }
        guard headerLength <= 1 << 20, headerLength <= bytes.count - headerStart else {
            throw fail("the header claims \(headerLength) bytes, more than the file holds")
        }
        guard let header = String(bytes: bytes[headerStart ..< headerStart + headerLength], encoding: .utf8) else {
            throw fail("the header is not text")
        }
        var parser = HeaderParser(text: header, path: path)
        let fields = try parser.dictionary()
        guard Set(fields.keys) == ["descr", "fortran_order", "shape"] else {
            throw fail("the header has keys \(fields.keys.sorted()); expected descr, fortran_order and shape")
        }
        guard case let .string(descr)? = fields["descr"] else { throw fail("descr is not a dtype string") }
        guard case let .bool(fortran)? = fields["fortran_order"] else { throw fail("fortran_order is not True or False") }
        guard !fortran else { throw fail("the array is in Fortran order; save it in C order (numpy.ascontiguousarray)") }
        guard case let .tuple(shape)? = fields["shape"] else { throw fail("shape is not a tuple of sizes") }

        let order = descr.first, code = String(descr.dropFirst())
        guard let type = ElementType(rawValue: code), order == "<" || order == "|" || order == ">" || order == "=" else {
            throw fail("dtype \(descr) is not an integer type; expected uint8 images and integer labels")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= bytes.count else { throw fail("shape \(shape) holds more values than the file's \(bytes.count) bytes") }
            count = product
        }
        let dataStart = headerStart + headerLength
        guard count * type.size == bytes.count - dataStart else {
            throw fail("shape \(shape) of \(descr) needs \(count * type.size) bytes of data, the file holds \(bytes.count - dataStart)")
        }
        var payload = Array(bytes[dataStart...])
        if order == ">", type.size > 1 {
            for k in 0 ..< count { payload[k * type.size ..< (k + 1) * type.size].reverse() }
        }
        return NumPyArray(elementType: type, shape: shape, payload: payload)
    }

    /// The Python literals a .npy header holds.
    enum Literal: Equatable { case string(String), bool(Bool), tuple([Int]) }

    /// A strict parser of the header's dict: string keys; string, True/False and
    /// tuple-of-integers values; whitespace and one trailing comma where Python allows.
    struct HeaderParser {
        let characters: [Character]
        let path: String
        var position = 0

        init(text: String, path: String) {
            characters = Array(text)
            self.path = path
        }

        func fail(_ message: String) -> NumPyError { NumPyError(path: path, message: "header: \(message) at character \(position + 1)") }

        mutating func skipSpace() { while position < characters.count, characters[position].isWhitespace { position += 1 } }

        mutating func expect(_ character: Character) throws(NumPyError) {
            skipSpace()
            guard position < characters.count, characters[position] == character else { throw fail("expected \"\(character)\"") }
            position += 1
        }

        mutating func peek() -> Character? {
            skipSpace()
            return position < characters.count ? characters[position] : nil
        }

        mutating func dictionary() throws(NumPyError) -> [String: Literal] {
            try expect("{")
            var fields = [String: Literal]()
            while peek() != "}" {
                guard case let .string(key) = try literal() else { throw fail("expected a string key") }
                try expect(":")
                guard fields.updateValue(try literal(), forKey: key) == nil else { throw fail("key \(key) given twice") }
                if peek() == "," { position += 1 } else { break }
            }
            try expect("}")
            return fields
        }

        mutating func literal() throws(NumPyError) -> Literal {
            switch peek() {
            case "'"?, "\""?:
                let quote = characters[position]
                position += 1
                var text = ""
                while position < characters.count, characters[position] != quote {
                    guard characters[position] != "\\", text.count < 64 else { throw fail("unexpected string") }
                    text.append(characters[position])
                    position += 1
                }
                try expect(quote)
                return .string(text)
            case "("?:
                position += 1
                var sizes = [Int]()
                while peek() != ")" {
                    var digits = ""
                    while position < characters.count, characters[position].isASCII, characters[position].isNumber, digits.count < 19 {
                        digits.append(characters[position])
                        position += 1
                    }
                    guard let size = Int(digits), sizes.count < 32 else { throw fail("expected a size") }
                    sizes.append(size)
                    if peek() == "," { position += 1 } else { break }
                }
                try expect(")")
                return .tuple(sizes)
            default:
                for (word, value) in [("True", true), ("False", false)] where characters[position...].starts(with: word) {
                    position += word.count
                    return .bool(value)
                }
                throw fail("expected a string, a tuple, True or False")
            }
        }
    }
}

/// NumPy's `.npz`: a zip archive of `.npy` files, one per array (`x_train.npy`, ...),
/// stored or deflated, as `numpy.savez` and `numpy.savez_compressed` write it.
public enum NumPyArchive {
    /// The first bytes of a zip archive.
    public static let signature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

    /// Array `key` of the archive `bytes` (read from `path`), at most `limit` bytes uncompressed.
    public static func array(_ key: String, in bytes: [UInt8], path: String, limit: Int = 1 << 32) throws(NumPyError) -> NumPyArray {
        let entry: [UInt8]
        do { entry = try ZipArchive.entry(key + ".npy", of: bytes, limit: limit) } catch {
            switch error {
            case let .notAnArchive(reason): throw NumPyError(path: path, message: "not a readable .npz (zip) archive: \(reason)")
            case .missingEntry: throw NumPyError(path: path, message: "has no array \(key) (\(key).npy)")
            case let .tooLarge(size): throw NumPyError(path: path, message: "\(key).npy claims \(size) bytes, more than the \(limit) this tool reads")
            case let .damaged(reason): throw NumPyError(path: path, message: "\(key).npy is damaged: \(reason)")
            }
        }
        return try NumPyArray.parse(entry, path: "\(path): \(key).npy")
    }
}
