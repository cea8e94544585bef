import Foundation
import MNISTKit
import XCTest

/// The generic safetensors layer: bytes worked by hand for each dtype, the
/// strict checks, and SHA-256 against FIPS 180-4's examples (as sha256sum prints them).
final class SafetensorsTests: XCTestCase {
    /// A file with one tensor of `dtype` holding `payload`, laid out by hand.
    func handMade(dtype: String, shape: [Int], payload: [UInt8], metadata: String = "") -> [UInt8] {
        let header = Array(#"{\#(metadata)"t":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[0,\#(payload.count)]}}"#.utf8)
        return withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + payload
    }

    func testReadsEachDtypeExactly() throws {
        // F32 1.5 = 0x3FC00000; F16 1.5 = 0x3E00, -2 = 0xC000, 65504 = 0x7BFF; BF16 -2 = 0xC000, 1.5 = 0x3FC0.
        let f32 = try SafetensorsFile.decode(handMade(dtype: "F32", shape: [1], payload: [0x00, 0x00, 0xC0, 0x3F]), path: "a")
        XCTAssertEqual(f32.tensor("t")?.values, [1.5])
        let f16 = try SafetensorsFile.decode(handMade(dtype: "F16", shape: [3], payload: [0x00, 0x3E, 0x00, 0xC0, 0xFF, 0x7B]), path: "b")
        XCTAssertEqual(f16.tensor("t")?.values, [1.5, -2, 65504])
        XCTAssertEqual(f16.tensor("t")?.dtype, .f16)
        let bf16 = try SafetensorsFile.decode(handMade(dtype: "BF16", shape: [2, 1], payload: [0x00, 0xC0, 0xC0, 0x3F],
                                                       metadata: #""__metadata__":{"k":"v"},"#), path: "c")
        XCTAssertEqual(bf16.tensor("t")?.values, [-2, 1.5])
        XCTAssertEqual(bf16.tensor("t")?.shape, [2, 1])
        XCTAssertEqual(bf16.metadata("k"), "v")
    }

    func testWritesWhatItReads() throws {
        let file = SafetensorsFile(metadata: [("format", "test")], tensors: [
            .init(name: "a.kernel", shape: [2, 3], values: [1, 2, 3, 4, 5, -6]), .init(name: "a.bias", shape: [3], values: [0.5, 0, -0.25]),
        ])
        let bytes = file.encoded()
        // Data 8-byte aligned, F32 little-endian, in order.
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        XCTAssertEqual((8 + headerLength) % 8, 0)
        XCTAssertEqual(Array(bytes[(8 + headerLength)...].prefix(4)), [0x00, 0x00, 0x80, 0x3F])
        let read = try SafetensorsFile.decode(bytes, path: "x")
        XCTAssertEqual(read.tensors.map(\.name), ["a.kernel", "a.bias"])
        XCTAssertEqual(read.tensor("a.bias")?.values, [0.5, 0, -0.25])
        XCTAssertEqual(read.metadata("format"), "test")
    }

    func testRejectsDamagedFiles() {
        let good = handMade(dtype: "F32", shape: [2], payload: [UInt8](repeating: 0, count: 8))
        let cases: [([UInt8], String)] = [
            (Array(good.prefix(5)), "x: truncated: 5 bytes, too short for a safetensors file"),
            (Array(good.dropLast()), "x: tensor t: data_offsets [0, 8] run past the end of the data (7 bytes): truncated"),
            (good + [0, 0, 0, 0], "x: data section has 4 bytes that belong to no tensor"),
            (handMade(dtype: "F16", shape: [2], payload: [0, 0, 0, 0, 0, 0]), "x: tensor t: data_offsets [0, 6] hold 6 bytes, but F16 (2,) needs 4"),
            (handMade(dtype: "I8", shape: [2], payload: [0, 0]), #"x: tensor t: dtype "I8", expected one of "F32", "F16", "BF16""#),
        ]
        for (bytes, message) in cases {
            XCTAssertThrowsError(try SafetensorsFile.decode(bytes, path: "x")) { XCTAssertEqual("\($0)", message) }
        }
    }

    func testSHA256MatchesTheStandardsExamples() {
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha256Hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(sha256Hex([UInt8](repeating: 0x61, count: 1_000_000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
