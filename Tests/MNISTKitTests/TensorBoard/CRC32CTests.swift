import MNISTKit
import XCTest

/// TFRecord's checksums against published values: RFC 3720's CRC-32C test
/// vectors, and the masked CRCs TensorBoard's own reader computes.
final class CRC32CTests: XCTestCase {
    func testCRC32CMatchesRFC3720() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func testMaskedCRCMatchesTensorBoardsReader() {
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c
        XCTAssertEqual(CRC32C.masked(Array("123456789".utf8)), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked([UInt8](repeating: 0, count: 8)), 0x0798_0329)
    }
}
