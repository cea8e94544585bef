import Foundation
import MNISTKit
import TestFixtures
import XCTest

final class IDXTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Writes `bytes` to a file in the test's folder and returns its path.
    func write(_ bytes: [UInt8], _ name: String = "fixture") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func readError(_ bytes: [UInt8], _ name: String = "fixture") throws -> IDXError? {
        let path = try write(bytes, name)
        do { _ = try IDX.read(path: path); return nil } catch { return error }
    }

    let smallImages = IDX.encode(elementType: .uint8, dimensions: [2, 2, 3], payload: [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255])

    func testReadsRawAndGzipByMagicNotName() throws {
        for (bytes, name) in [(smallImages, "images.gz"), (gzip(smallImages), "images.raw")] {
            let array = try IDX.read(path: try write(bytes, name))
            XCTAssertEqual(array.elementType, .uint8)
            XCTAssertEqual(array.dimensions, [2, 2, 3])
            XCTAssertEqual(array.payload, Array(smallImages.suffix(12)))
        }
    }

    func testDecodesEveryElementTypeBigEndian() throws {
        // Hand-worked big-endian encodings of -2 / 1.5 / 258 for each type.
        let cases: [(IDXElementType, [UInt8], [Float])] = [
            (.uint8, [0xFF, 0x02], [255, 2]),
            (.int8, [0xFE, 0x02], [-2, 2]),
            (.int16, [0xFF, 0xFE, 0x01, 0x02], [-2, 258]),
            (.int32, [0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x01, 0x02], [-2, 258]),
            (.float32, [0x3F, 0xC0, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00], [1.5, -2]),
            (.float64, [0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0], [1.5, -2]),
        ]
        for (type, payload, expected) in cases {
            let array = try IDX.decode(bytes: gzip(IDX.encode(elementType: type, dimensions: [2], payload: payload)))
            XCTAssertEqual(array.elementType, type)
            XCTAssertEqual(array.floats(), expected, "\(type)")
        }
    }

    func testHighRankHeaders() throws {
        let dims = [Int](repeating: 1, count: 255)
        let array = try IDX.decode(bytes: IDX.encode(elementType: .uint8, dimensions: dims, payload: [7]))
        XCTAssertEqual(array.dimensions.count, 255)
        XCTAssertEqual(array.payload, [7])
    }

    func testEachMalformedFileHasItsOwnError() throws {
        let good = smallImages
        var flippedType = good; flippedType[2] = 0x07
        var zeroRank = good; zeroRank[3] = 0
        var badMagic = good; badMagic[0] = 0x12
        let overflow: [UInt8] = [0, 0, 0x0E, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let compressed = gzip(good)
        var corrupt = compressed; corrupt[14] ^= 0xFF
        var badCRC = compressed; badCRC[compressed.count - 6] ^= 0x01
        let notDeflate = Array(compressed.prefix(10)) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

        let cases: [(String, [UInt8], (IDXError) -> Bool, String)] = [
            ("wrong magic", badMagic, { if case .badMagic = $0 { true } else { false } }, "not an IDX file: expected magic 00 00 <type> <rank>, found 12 00 08 03"),
            ("text file", Array("hello world".utf8), { if case .badMagic = $0 { true } else { false } }, "not an IDX file"),
            ("empty file", [], { if case .truncatedHeader = $0 { true } else { false } }, "truncated IDX header: expected 4 bytes, found 0"),
            ("unknown type", flippedType, { if case .unknownElementType(_, 0x07) = $0 { true } else { false } }, "unknown IDX element type 0x07"),
            ("zero rank", zeroRank, { if case .zeroRank = $0 { true } else { false } }, "0 dimensions"),
            ("truncated header", Array(good.prefix(9)), { if case .truncatedHeader(_, 16, 9) = $0 { true } else { false } }, "truncated IDX header: expected 16 bytes, found 9"),
            ("truncated payload", Array(good.dropLast(3)), { if case .truncatedPayload(_, 12, 9) = $0 { true } else { false } }, "the header declares 12 bytes, found 9"),
            ("over-long payload", good + [0], { if case .trailingBytes(_, 12) = $0 { true } else { false } }, "longer than the 12 bytes"),
            ("dims overflow", overflow, { if case .dimensionsOverflow = $0 { true } else { false } }, "more bytes than can be addressed"),
            ("gzip truncated payload", gzip(Array(good.dropLast(1))), { if case .truncatedPayload = $0 { true } else { false } }, "found 11"),
            ("gzip over-long payload", gzip(good + [1, 2]), { if case .trailingBytes = $0 { true } else { false } }, "longer than"),
            ("gzip stream cut short", Array(compressed.prefix(compressed.count - 10)), { if case .gzipTruncated = $0 { true } else { false } }, "gzip stream ends early"),
            ("corrupt deflate", corrupt, { if case .gzipCorrupt = $0 { true } else { false } }, "corrupt gzip data"),
            ("looks gzip, not deflate", notDeflate, { if case .gzipDoesNotInflate = $0 { true } else { false } }, "looks gzip-compressed (starts with 1f 8b) but does not inflate"),
            ("crc mismatch", badCRC, { if case .gzipChecksumMismatch = $0 { true } else { false } }, "gzip CRC mismatch"),
            ("gzip in gzip", gzip(compressed), { if case .nestedGzip = $0 { true } else { false } }, "a gzip file inside a gzip file"),
            ("garbage after gzip", compressed + [0, 1, 2], { if case .gzipTrailingData = $0 { true } else { false } }, "after the end of the gzip stream"),
            ("gzip claims more than it can hold", gzip(IDX.encode(elementType: .uint8, dimensions: [1_000_000, 1000], payload: [])),
             { if case .payloadTooLarge = $0 { true } else { false } }, "more than this file can hold"),
        ]
        for (name, bytes, matches, message) in cases {
            guard let error = try readError(bytes, "case.idx") else { XCTFail("\(name): no error"); continue }
            XCTAssertTrue(matches(error), "\(name): got \(error)")
            XCTAssertTrue(error.description.hasPrefix(directory.appendingPathComponent("case.idx").path + ": "), "\(name): \(error)")
            XCTAssertTrue(error.description.contains(message), "\(name): \(error.description) lacks \(message)")
        }
    }

    func testMissingFileAndDirectory() throws {
        XCTAssertThrowsError(try IDX.read(path: directory.appendingPathComponent("absent").path)) {
            XCTAssertEqual("\($0)", directory.appendingPathComponent("absent").path + ": no such file")
        }
        XCTAssertThrowsError(try IDX.read(path: directory.path)) {
            XCTAssertEqual("\($0)", directory.path + ": is a directory, expected a file")
        }
    }

    func testPayloadCapIsCheckedBeforeAllocation() throws {
        let bytes = IDX.encode(elementType: .uint8, dimensions: [100], payload: [UInt8](repeating: 1, count: 100))
        XCTAssertThrowsError(try IDX.decode(bytes: bytes, maximumPayloadBytes: 99)) {
            guard case .payloadTooLarge(_, 100, 99) = $0 as? IDXError else { return XCTFail("\($0)") }
        }
    }
}
