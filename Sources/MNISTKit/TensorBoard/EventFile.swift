import Foundation

// TensorBoard's event files are TFRecord files: each record is its length
// (UInt64, little-endian), the masked CRC-32C of those 8 bytes, the data (a
// serialized `Event`), and the masked CRC-32C of the data. Readers check both
// CRCs, so a damaged or half-written record is found, never misread.

/// CRC-32C (Castagnoli), the checksum TFRecord uses, and its masked form.
public enum CRC32C {
    private static let table: [UInt32] = (0 ..< 256).map { byte in
        var crc = UInt32(byte)
        for _ in 0 ..< 8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The CRC-32C of `bytes`.
    public static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return ~crc
    }

    /// TFRecord's masking: rotated right by 15 bits plus a constant, so that a
    /// CRC stored inside checksummed data does not cancel itself out.
    public static func masked<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

enum TFRecord {
    /// `data` as one framed record.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        let length = littleEndianBytes(UInt64(data.count))
        return length + littleEndianBytes(CRC32C.masked(length)) + data + littleEndianBytes(CRC32C.masked(data))
    }

    /// The records of `bytes` with their end offsets, up to the first record
    /// that is incomplete or fails a CRC check (readers stop there too).
    static func records(in bytes: [UInt8]) -> [(data: ArraySlice<UInt8>, end: Int)] {
        var records = [(data: ArraySlice<UInt8>, end: Int)]()
        var offset = 0
        while bytes.count - offset >= 12 {
            let header = bytes[offset ..< offset + 8]
            guard CRC32C.masked(header) == littleEndianUInt32(bytes, at: offset + 8) else { break }
            let length = header.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let start = offset + 12
            guard length <= UInt64(bytes.count - start), bytes.count - start - Int(length) >= 4 else { break }
            let data = bytes[start ..< start + Int(length)]
            guard CRC32C.masked(data) == littleEndianUInt32(bytes, at: start + Int(length)) else { break }
            offset = start + Int(length) + 4
            records.append((data, offset))
        }
        return records
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0 ..< T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    private static func littleEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0 ..< 4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }
}
