import MNISTKit
import TestFixtures
import XCTest

/// Every PNG colour type and depth, PGM and PPM, each written byte by byte by the
/// fixtures, decode to the RGBA bytes worked out by hand; each damaged form is one typed error.
final class ImageReadingTests: XCTestCase {
    // A 3x2 picture: grey levels 0, 64, 128 / 192, 255, 10.
    let levels = [0, 64, 128, 192, 255, 10]
    var expectedGray: [UInt8] { levels.flatMap { [UInt8($0), UInt8($0), UInt8($0), 255] } }

    func decode(_ bytes: [UInt8]) throws -> RGBAImage { try RGBAImage.decode(bytes) }

    func testGrayPNGAtEightAndSixteenBitsPlainAndInterlaced() throws {
        for interlaced in [false, true] {
            let eight = PNGFixture.encode(width: 3, height: 2, colorType: .gray, samples: levels, interlaced: interlaced)
            XCTAssertEqual(try decode(eight).pixels, expectedGray)
            let sixteen = PNGFixture.encode(width: 3, height: 2, colorType: .gray, bitDepth: 16, samples: levels.map { $0 * 257 },
                                            interlaced: interlaced)
            XCTAssertEqual(try decode(sixteen).pixels, expectedGray, "16-bit, interlaced: \(interlaced)")
        }
    }

    func testColourTypesWithAlphaAndPalettes() throws {
        let rgb = PNGFixture.encode(width: 2, height: 1, colorType: .rgb, samples: [255, 0, 0, 10, 20, 30])
        XCTAssertEqual(try decode(rgb).pixels, [255, 0, 0, 255, 10, 20, 30, 255])
        let rgba = PNGFixture.encode(width: 2, height: 1, colorType: .rgba, bitDepth: 16,
                                     samples: [255, 0, 0, 128, 10, 20, 30, 255].map { $0 * 257 }, interlaced: true)
        XCTAssertEqual(try decode(rgba).pixels, [255, 0, 0, 128, 10, 20, 30, 255])
        let grayAlpha = PNGFixture.encode(width: 2, height: 1, colorType: .grayAlpha, samples: [200, 0, 50, 255])
        XCTAssertEqual(try decode(grayAlpha).pixels, [200, 200, 200, 0, 50, 50, 50, 255])
        let palette = PNGFixture.encode(width: 3, height: 1, colorType: .palette, samples: [2, 0, 1],
                                        palette: [(1, 2, 3), (40, 50, 60), (200, 100, 0)], paletteAlpha: [255, 7])
        XCTAssertEqual(try decode(palette).pixels, [200, 100, 0, 255, 1, 2, 3, 255, 40, 50, 60, 7])
    }

    func testPGMAndPPMBinaryAndASCII() throws {
        XCTAssertEqual(try decode(PNMFixture.binary(width: 3, height: 2, channels: 1, samples: levels)).pixels, expectedGray)
        XCTAssertEqual(try decode(PNMFixture.ascii(width: 3, height: 2, channels: 1, samples: levels)).pixels, expectedGray)
        XCTAssertEqual(try decode(PNMFixture.binary(width: 3, height: 2, channels: 1, maxValue: 65535, samples: levels.map { $0 * 257 })).pixels,
                       expectedGray)
        // maxval 15: samples scale to 0...255 (7 of 15 is 119).
        XCTAssertEqual(try decode(PNMFixture.ascii(width: 1, height: 1, channels: 1, maxValue: 15, samples: [7])).pixels, [119, 119, 119, 255])
        let colour = [255, 0, 0, 10, 20, 30]
        XCTAssertEqual(try decode(PNMFixture.binary(width: 2, height: 1, channels: 3, samples: colour)).pixels, [255, 0, 0, 255, 10, 20, 30, 255])
        XCTAssertEqual(try decode(PNMFixture.ascii(width: 2, height: 1, channels: 3, samples: colour)).pixels, [255, 0, 0, 255, 10, 20, 30, 255])
    }

    /// The case of the error `bytes` decode to ("truncated", "badCRC", ...), with its message.
    func problem(_ bytes: [UInt8]) -> (kind: String, message: String) {
        do {
            _ = try RGBAImage.decode(bytes)
            return ("none", "decoded")
        } catch {
            return (Mirror(reflecting: error).children.first?.label ?? "\(error)", "\(error)")
        }
    }

    func testDamagedAndForeignFilesAreTypedErrors() {
        let good = PNGFixture.encode(width: 3, height: 2, colorType: .gray, samples: levels)
        XCTAssertEqual(problem([]).message, "empty file")
        XCTAssertEqual(problem(Array("hello, world".utf8)).message, "not an image (no PNG, PGM or PPM signature)")
        XCTAssertEqual(problem([0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).message, "unsupported format: JPEG (convert it to PNG)")
        XCTAssertEqual(problem(Array("P4\n1 1\n\0".utf8)).kind, "unsupported")
        // Cut anywhere after the signature: truncated, never a crash.
        for length in [8, 20, 33, 40, good.count - 12, good.count - 1] {
            XCTAssertEqual(problem(Array(good.prefix(length))).kind, "truncated", "cut at \(length) of \(good.count)")
        }
        // One bit flipped in IDAT's compressed data (byte 33 + 8 is inside it).
        var flipped = good
        flipped[33 + 8 + 2] ^= 0x10
        XCTAssertEqual(problem(flipped).message, "bad CRC in PNG chunk IDAT: the file is damaged")
        // A CRC-valid chunk sequence whose data does not inflate: libpng's own message.
        let garbage = Array(good.prefix(33)) + PNGFixture.chunk("IDAT", [1, 2, 3, 4, 5]) + PNGFixture.chunk("IEND", [])
        XCTAssertEqual(problem(garbage).kind, "corrupt")
        XCTAssertEqual(problem(Array("P5\n3 2\n255\n\u{1}\u{2}".utf8)).kind, "truncated")
        XCTAssertEqual(problem(Array("P2\n2 1\n255\n7 x".utf8)).kind, "corrupt")
        XCTAssertEqual(problem(Array("P2\n2 1\n255\n7 300".utf8)).kind, "corrupt")
    }

    /// The limit is checked from the header alone: these files hold no pixels at all, so decoding
    /// would first fail as truncated.
    func testOversizedHeadersFailBeforeAnyPixelIsDecoded() {
        let hugePNG = PNGFixture.encode(width: 3, height: 2, colorType: .gray, samples: levels).prefix(8)
            + PNGFixture.chunk("IHDR", PNGFixture.bigEndian(100_000) + PNGFixture.bigEndian(100_000) + [8, 0, 0, 0, 0])
        XCTAssertEqual(problem(Array(hugePNG)).kind, "tooLarge")
        XCTAssertEqual(problem(Array("P5 20000 20000 255\n".utf8)).kind, "tooLarge")
        // Within the limit, but with too little data for the pixels it claims: refused before allocating.
        let empty = Array(hugePNG.prefix(8)) + PNGFixture.chunk("IHDR", PNGFixture.bigEndian(4000) + PNGFixture.bigEndian(4000) + [16, 6, 0, 0, 0])
            + PNGFixture.chunk("IDAT", zlibCompressed([0])) + PNGFixture.chunk("IEND", [])
        XCTAssertEqual(problem(empty).message, "truncated: 9 bytes of image data cannot hold 4000x4000 pixels")
        XCTAssertEqual(problem(Array("P3 4000 4000 255\n1 2 3".utf8)).message, "truncated: 6 bytes cannot hold 48000000 ASCII samples")
        XCTAssertEqual(problem(Array("P6 5000 5001 255\n".utf8)).message,
                       "image is 5000x5001, over the limit of 16384 pixels a side and 25000000 in all")
    }
}
