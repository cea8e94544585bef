import CZlib

// Image files written by hand, byte by byte, from the formats' specifications:
// a reference independent of libpng and of the project's readers.

public enum PNGFixture {
    public enum ColorType: UInt8 {
        case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6

        public var channels: Int { [1, 0, 3, 1, 2, 0, 4][Int(rawValue)] }
    }

    /// A PNG of `samples` (row-major, `colorType.channels` values a pixel, each below
    /// 2^bitDepth; palette indices for `.palette`), bit depth 8 or 16, filter 0 on every row,
    /// Adam7-interlaced when asked.
    public static func encode(width: Int, height: Int, colorType: ColorType, bitDepth: Int = 8, samples: [Int],
                              palette: [(UInt8, UInt8, UInt8)] = [], paletteAlpha: [UInt8] = [], interlaced: Bool = false) -> [UInt8] {
        let channels = colorType.channels
        precondition(samples.count == width * height * channels && (bitDepth == 8 || bitDepth == 16))
        func row(_ y: Int, xs: StrideTo<Int>) -> [UInt8] {
            var bytes: [UInt8] = [0]  // filter type None
            for x in xs {
                for c in 0 ..< channels {
                    let v = samples[(y * width + x) * channels + c]
                    bytes += bitDepth == 16 ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v)]
                }
            }
            return bytes
        }
        var raw: [UInt8] = []
        if interlaced {
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            for (x0, y0, dx, dy) in passes where x0 < width && y0 < height {
                for y in stride(from: y0, to: height, by: dy) { raw += row(y, xs: stride(from: x0, to: width, by: dx)) }
            }
        } else {
            for y in 0 ..< height { raw += row(y, xs: stride(from: 0, to: width, by: 1)) }
        }
        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file += chunk("IHDR", bigEndian(width) + bigEndian(height) + [UInt8(bitDepth), colorType.rawValue, 0, 0, interlaced ? 1 : 0])
        if colorType == .palette {
            file += chunk("PLTE", palette.flatMap { [$0.0, $0.1, $0.2] })
            if !paletteAlpha.isEmpty { file += chunk("tRNS", paletteAlpha) }
        }
        file += chunk("IDAT", zlibCompressed(raw))
        file += chunk("IEND", [])
        return file
    }

    public static func bigEndian(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8((value >> $0) & 0xFF) } }

    /// Length, type, data and CRC-32 over type and data.
    public static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(data.count) + body + bigEndian(Int(crc(body)))
    }

    /// zlib's CRC-32, the one PNG chunks carry.
    public static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }
}

public enum PNMFixture {
    /// P5 (grey) or P6 (RGB) with maxval 255 or 65535 (two bytes a sample, most significant first).
    public static func binary(width: Int, height: Int, channels: Int, maxValue: Int = 255, samples: [Int]) -> [UInt8] {
        var bytes = Array("P\(channels == 1 ? 5 : 6)\n# written by a test\n\(width) \(height)\n\(maxValue)\n".utf8)
        for v in samples { bytes += maxValue > 255 ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v)] }
        return bytes
    }

    /// P2 (grey) or P3 (RGB), samples separated by spaces and newlines, with a comment.
    public static func ascii(width: Int, height: Int, channels: Int, maxValue: Int = 255, samples: [Int]) -> [UInt8] {
        var text = "P\(channels == 1 ? 2 : 3)\n\(width) # width\n\(height)\n\(maxValue)\n"
        for y in 0 ..< height {
            text += samples[(y * width * channels) ..< ((y + 1) * width * channels)].map(String.init).joined(separator: " ") + "\n"
        }
        return Array(text.utf8)
    }
}

/// A synthetic digit for the image tests, and the 28x28 field MNIST-style preparation must
/// turn any picture of it into.
public enum SyntheticDigit {
    /// A ring 20 rows tall and 12 wide, full ink (255) with a softer inside edge (128).
    /// Symmetric about its centre, so its centre of mass is the box's centre, at index (9.5, 5.5);
    /// moved to index (14, 14), halves rounded up, the prepared field holds it at rows 5...24,
    /// columns 9...20, unscaled.
    public static let (height, width) = (20, 12)
    public static let ring: [Int] = (0 ..< height * width).map { i in
        let dy = (Double(i / width) - 9.5) / 10, dx = (Double(i % width) - 5.5) / 6
        let r = (dx * dx + dy * dy).squareRoot()
        return r >= 0.75 && r <= 1.0 ? 255 : (r >= 0.6 && r < 0.75 ? 128 : 0)
    }
    public static let preparedField: [Float] = {
        var field = [Float](repeating: 0, count: 28 * 28)
        for y in 0 ..< height { for x in 0 ..< width { field[(y + 5) * 28 + x + 9] = Float(ring[y * width + x]) / 255 } }
        return field
    }()

    /// The ring as black ink on a white `pageWidth` × `pageHeight` grey page, at (left, top).
    public static func onWhitePage(pageWidth: Int, pageHeight: Int, left: Int, top: Int) -> [Int] {
        var pixels = [Int](repeating: 255, count: pageWidth * pageHeight)
        for y in 0 ..< height { for x in 0 ..< width { pixels[(top + y) * pageWidth + left + x] = 255 - ring[y * width + x] } }
        return pixels
    }
}
