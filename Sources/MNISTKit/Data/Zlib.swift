import CZlib

/// Why a gzip stream could not be inflated.
enum InflateProblem: Error, Equatable {
    /// The data does not inflate: a corrupt deflate stream or a bad gzip header.
    case corrupt(String)
    /// The gzip trailer's CRC-32 (or length) does not match the inflated bytes.
    case checksumMismatch(String)
    /// The stream ends before the gzip trailer.
    case truncated
    /// Bytes follow the end of the gzip stream.
    case trailingData
}

/// Inflates a gzip stream from `source` on demand, holding only a 64 KiB window
/// of compressed input: the compressed and inflated copies never both sit in memory.
final class GzipSource: ByteSource {
    private let source: ByteSource
    private let stream: UnsafeMutablePointer<z_stream>
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    private var finished = false

    init(source: ByteSource) {
        self.source = source
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 16 + 15: a gzip wrapper (header, CRC-32 and length checked) around a 32 KiB-window deflate stream.
        let status = czlib_inflate_init2(stream, 16 + 15)
        precondition(status == Z_OK, "inflateInit2 failed with status \(status): zlib is unusable")
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(buffer.count)
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 {
                let got = try source.read(into: input)
                if got == 0 { throw InflateProblem.truncated }
                stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = UInt32(got)
            }
            let status = inflate(stream, Z_NO_FLUSH)
            if status == Z_STREAM_END {
                finished = true
                // Anything after the trailer is a second member or garbage: refuse both.
                if try stream.pointee.avail_in > 0 || !source.isAtEnd() { throw InflateProblem.trailingData }
                break
            }
            guard status == Z_OK || status == Z_BUF_ERROR else {
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                if message.contains("check") { throw InflateProblem.checksumMismatch(message) }
                throw InflateProblem.corrupt(message)
            }
        }
        return buffer.count - Int(stream.pointee.avail_out)
    }
}

/// zlib's CRC-32 (the gzip and PNG polynomial), also used to seal checkpoints.
public func crc32Checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var crc: UInt = 0
    var offset = 0
    while offset < bytes.count {
        // zlib takes a 32-bit length; feed large buffers in chunks.
        let length = min(bytes.count - offset, 1 << 30)
        crc = crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: Bytef.self) + offset, UInt32(length))
        offset += length
    }
    return UInt32(crc)
}

/// `bytes` deflated at level 6 inside a gzip wrapper (`windowBits` 16 + 15) or a
/// zlib one (15), with a zero timestamp: the same bytes always compress alike.
public func deflated(_ bytes: [UInt8], gzip: Bool) -> [UInt8] {
    var stream = z_stream()
    precondition(czlib_deflate_init2(&stream, 6, gzip ? 16 + 15 : 15) == Z_OK, "deflateInit2 failed: zlib is unusable")
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    let written = input.withUnsafeMutableBufferPointer { inputBuffer in
        output.withUnsafeMutableBufferPointer { outputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            stream.next_out = outputBuffer.baseAddress
            stream.avail_out = UInt32(outputBuffer.count)
            let status = deflate(&stream, Z_FINISH)
            precondition(status == Z_STREAM_END, "deflate into a deflateBound-sized buffer ended with \(status)")
            return outputBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[..<written])
}
