// Netpbm's PGM (P2 ASCII, P5 binary) and PPM (P3 ASCII, P6 binary), maxval up to 65535.

enum PNM {
    static func decode(_ bytes: [UInt8]) throws(ImageError.Problem) -> RGBAImage {
        let kind = bytes[1]
        let channels: Int, ascii: Bool
        switch kind {
        case UInt8(ascii: "2"): (channels, ascii) = (1, true)
        case UInt8(ascii: "5"): (channels, ascii) = (1, false)
        case UInt8(ascii: "3"): (channels, ascii) = (3, true)
        case UInt8(ascii: "6"): (channels, ascii) = (3, false)
        case UInt8(ascii: "1"), UInt8(ascii: "4"): throw .unsupported("PBM (P1/P4) bitmaps; save it as PGM or PNG")
        default: throw .unsupported("PAM (P7); save it as PGM, PPM or PNG")
        }
        var reader = Reader(bytes: bytes, position: 2)
        let width = try reader.headerNumber("width"), height = try reader.headerNumber("height")
        try RGBAImage.checkSize(width: width, height: height)
        let maxValue = try reader.headerNumber("maxval")
        guard (1 ... 65535).contains(maxValue) else { throw .corrupt("maxval \(maxValue) is outside 1...65535") }
        let sampleCount = width * height * channels
        // The data must be able to hold the samples before anything is allocated for them.
        let bytesPerSample = maxValue > 255 ? 2 : 1
        var start = reader.position
        if ascii {
            // Every sample takes a digit and a separator.
            guard bytes.count - reader.position >= 2 * sampleCount - 1 else {
                throw .truncated("\(bytes.count - reader.position) bytes cannot hold \(sampleCount) ASCII samples")
            }
        } else {
            // Exactly one whitespace byte separates the header from the samples.
            guard reader.position < bytes.count, reader.isSpace(bytes[reader.position]) else {
                throw .truncated("the header ends before the pixel data")
            }
            start = reader.position + 1
            guard bytes.count - start >= sampleCount * bytesPerSample else {
                throw .truncated("\(bytes.count - start) bytes of pixel data, \(width)x\(height) needs \(sampleCount * bytesPerSample)")
            }
        }
        // Samples go straight into the RGBA pixels.
        var pixels = [UInt8](repeating: 255, count: width * height * 4)
        func store(_ sample: Int, at index: Int) throws(ImageError.Problem) {
            guard sample <= maxValue else { throw .corrupt("sample \(sample) is above maxval \(maxValue)") }
            let value = UInt8((sample * 255 + maxValue / 2) / maxValue)
            let pixel = index / channels
            if channels == 1 {
                (pixels[pixel * 4], pixels[pixel * 4 + 1], pixels[pixel * 4 + 2]) = (value, value, value)
            } else {
                pixels[pixel * 4 + index % channels] = value
            }
        }
        if ascii {
            for i in 0 ..< sampleCount { try store(try reader.sample(i, of: sampleCount), at: i) }
        } else {
            for i in 0 ..< sampleCount {
                try store(bytesPerSample == 1 ? Int(bytes[start + i]) : Int(bytes[start + 2 * i]) << 8 | Int(bytes[start + 2 * i + 1]), at: i)
            }
        }
        return RGBAImage(width: width, height: height, pixels: pixels)
    }

    /// Header tokens and ASCII samples: decimal numbers between whitespace and `#` comments.
    struct Reader {
        let bytes: [UInt8]
        var position: Int

        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09 ... 0x0D).contains(byte) }

        mutating func skipSpaceAndComments() {
            while position < bytes.count {
                if isSpace(bytes[position]) {
                    position += 1
                } else if bytes[position] == UInt8(ascii: "#") {
                    while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
                } else {
                    return
                }
            }
        }

        mutating func number() -> Int? {
            skipSpaceAndComments()
            var value = 0, digits = 0
            while position < bytes.count, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(bytes[position]) {
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                if value > 1 << 40 { return nil }
                digits += 1
                position += 1
            }
            return digits > 0 ? value : nil
        }

        mutating func headerNumber(_ name: String) throws(ImageError.Problem) -> Int {
            let start = position
            guard let value = number() else {
                skipSpaceAndComments()
                if position >= bytes.count { throw .truncated("the header ends before its \(name)") }
                position = start
                throw .corrupt("header \(name) is not a number")
            }
            return value
        }

        mutating func sample(_ index: Int, of count: Int) throws(ImageError.Problem) -> Int {
            guard let value = number() else {
                skipSpaceAndComments()
                if position >= bytes.count { throw .truncated("\(index) of \(count) samples") }
                throw .corrupt("sample \(index + 1) is not a number")
            }
            return value
        }
    }
}
