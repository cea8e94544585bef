import Foundation
import MNISTKit
import XCTest

/// NumPy's .npy and .npz, read from files NumPy itself wrote (the fuzz corpus,
/// Tests/Fuzz/corpus/numpy: `x` is arange(32) as uint8 of shape (2, 4, 4), `y` is
/// [3, 7]), and from hand-made headers for what must be refused.
final class NumPyTests: XCTestCase {
    private let corpus = packageRoot.appendingPathComponent("Tests/Fuzz/corpus/numpy")
    private let x = (0 ..< 32).map { UInt8($0) }

    private func file(_ name: String) throws -> [UInt8] { try [UInt8](Data(contentsOf: corpus.appendingPathComponent(name))) }

    /// A version 1 .npy file with `header` (padded as NumPy pads it) and `payload`.
    private func npy(_ header: String, _ payload: [UInt8], version: UInt8 = 1) -> [UInt8] {
        var text = Array(header.utf8)
        let prefix = version == 1 ? 10 : 12
        while (prefix + text.count + 1) % 64 != 0 { text.append(0x20) }
        text.append(0x0A)
        let length = version == 1 ? [UInt8(text.count & 0xFF), UInt8(text.count >> 8)]
                                  : [UInt8(text.count & 0xFF), UInt8(text.count >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + text + payload
    }

    private func message(_ bytes: [UInt8]) -> String {
        do { _ = try NumPyArray.parse(bytes, path: "a.npy"); return "no error" } catch { return error.description }
    }

    func testFilesNumPyWroteReadBack() throws {
        let images = try NumPyArray.parse(try file("x.npy"), path: "x.npy")
        XCTAssertEqual(images.elementType, .uint8)
        XCTAssertEqual(images.shape, [2, 4, 4])
        XCTAssertEqual(images.payload, x)
        let labels = try NumPyArray.parse(try file("y-int64.npy"), path: "y.npy")
        XCTAssertEqual(labels.elementType, .int64)
        XCTAssertEqual(labels.integers, [3, 7])
        for archive in ["stored.npz", "compressed.npz"] {
            let bytes = try file(archive)
            XCTAssertEqual(try NumPyArchive.array("x_train", in: bytes, path: archive).payload, x, archive)
            XCTAssertEqual(try NumPyArchive.array("y_train", in: bytes, path: archive).integers, [3, 7], archive)
        }
        XCTAssertEqual(try NumPyArchive.array("y_train", in: try file("compressed.npz"), path: "c.npz").elementType, .int32)
    }

    func testHeadersByHand() throws {
        // Signed and big-endian values: int16 [1, -2] stored big-endian.
        let bigEndian = try NumPyArray.parse(npy("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", [0, 1, 0xFF, 0xFE]), path: "b.npy")
        XCTAssertEqual(bigEndian.integers, [1, -2])
        // Version 2 headers, keys in another order, a scalar's empty shape.
        let scalar = try NumPyArray.parse(npy("{'shape': (), 'fortran_order': False, 'descr': '|u1'}", [42], version: 2), path: "s.npy")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.integers, [42])
    }

    func testWhatIsRefusedIsNamed() throws {
        XCTAssertEqual(message(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0])),
                       "a.npy: dtype <f4 is not an integer type; expected uint8 images and integer labels")
        XCTAssertEqual(message(npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2), }", [1, 2, 3, 4])),
                       "a.npy: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
        XCTAssertEqual(message(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", [1, 2, 3, 4])),
                       "a.npy: shape [2, 3] of |u1 needs 6 bytes of data, the file holds 4")
        XCTAssertEqual(message(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }", [])),
                       "a.npy: shape [1000000000000, 1000000000000] holds more values than the file's 128 bytes")
        XCTAssertEqual(message(npy("{'descr': '|u1', 'fortran_order': False}", [])),
                       #"a.npy: the header has keys ["descr", "fortran_order"]; expected descr, fortran_order and shape"#)
        XCTAssertEqual(message(npy("{'descr': '|u1', 'fortran_order': Maybe, 'shape': (1,)}", [1])),
                       "a.npy: header: expected a string, a tuple, True or False at character 35")
        XCTAssertEqual(message(Array("PK not numpy".utf8)), "a.npy: not a NumPy .npy file (no \\x93NUMPY magic)")
        var truncated = npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", [1])
        truncated[8] = 0xFF
        truncated[9] = 0xFF
        XCTAssertEqual(message(truncated), "a.npy: the header claims 65535 bytes, more than the file holds")
    }

    func testDamagedArchivesAreNamed() throws {
        var bytes = try file("compressed.npz")
        func message(_ key: String = "x_train") -> String {
            do { _ = try NumPyArchive.array(key, in: bytes, path: "m.npz"); return "no error" } catch { return error.description }
        }
        XCTAssertEqual(message("x_test"), "m.npz: has no array x_test (x_test.npy)")
        // A flipped byte inside the deflated data: libzip's CRC (or inflate) refuses it.
        let stored = try file("stored.npz")
        bytes = stored
        let start = try XCTUnwrap(Array(stored.indices).first { stored[$0 ..< min($0 + 6, stored.count)].elementsEqual([0x93] + Array("NUMPY".utf8)) })
        bytes[start + 100] ^= 0x01
        XCTAssertTrue(message().hasPrefix("m.npz: x_train.npy is damaged: "), message())
        bytes = Array("PK\u{3}\u{4} not really a zip".utf8)
        XCTAssertTrue(message().hasPrefix("m.npz: not a readable .npz (zip) archive: "), message())
    }
}
