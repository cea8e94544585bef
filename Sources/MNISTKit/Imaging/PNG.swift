import CPNG

// PNG through libpng's simplified API (every colour type, 1-16 bits, palettes,
// interlacing). The chunk walk before it gives the typed errors: truncation,
// bad CRCs and oversized headers are found before any pixel is decoded.

/// Reading (every colour type, bit depth, palette and interlacing, through libpng) and writing PNG files.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Decodes any PNG into 8-bit RGBA; 16-bit samples are rounded to 8 bits as they are
    /// (v / 257), the way other readers do, not gamma-converted as libpng would for 8-bit output.
    static func decode(_ bytes: [UInt8]) throws(ImageError.Problem) -> RGBAImage {
        let (width, height) = try checkChunks(bytes)
        let sixteenBits = bytes[24] == 16
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        var wide = [UInt16](repeating: 0, count: sixteenBits ? width * height * 4 : 0)
        let message: String? = bytes.withUnsafeBytes { file in
            var image = png_image()
            image.version = cpng_image_version()
            guard png_image_begin_read_from_memory(&image, file.baseAddress, file.count) != 0 else { return libpngMessage(image) }
            image.format = sixteenBits ? cpng_format_linear_rgba() : cpng_format_rgba()
            // The row stride counts components, whatever their size.
            let ok = sixteenBits
                ? wide.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width * 4), nil) }
                : pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, png_int_32(width * 4), nil) }
            return ok != 0 ? nil : libpngMessage(image)
        }
        if let message { throw .corrupt(message) }
        if sixteenBits {
            // libpng's 16-bit formats are premultiplied by alpha: divide it back out.
            for p in 0 ..< width * height {
                let alpha = Int(wide[p * 4 + 3])
                for c in 0 ..< 3 {
                    let straight = alpha == 0 ? 0 : min(65535, (Int(wide[p * 4 + c]) * 65535 + alpha / 2) / alpha)
                    pixels[p * 4 + c] = UInt8((straight * 255 + 32767) / 65535)
                }
                pixels[p * 4 + 3] = UInt8((alpha * 255 + 32767) / 65535)
            }
        }
        return RGBAImage(width: width, height: height, pixels: pixels)
    }

    /// Walks the chunks from the signature to IEND: lengths within the file, CRC-32 of each,
    /// IHDR first and within `ImageLimits`; returns IHDR's width and height.
    static func checkChunks(_ bytes: [UInt8]) throws(ImageError.Problem) -> (width: Int, height: Int) {
        func bigEndian(_ at: Int) -> Int { bytes[at ..< at + 4].reduce(0) { $0 << 8 | Int($1) } }
        var position = signature.count
        var size: (width: Int, height: Int)?
        var compressed = 0, bitsPerPixel = 8
        while true {
            guard bytes.count - position >= 8 else {
                throw .truncated("the file ends after \(bytes.count) bytes, before the IEND chunk")
            }
            let length = bigEndian(position)
            let type = String(decoding: bytes[position + 4 ..< position + 8], as: UTF8.self)
            guard length <= Int(Int32.max) else { throw .corrupt("chunk \(type) claims \(length) bytes") }
            guard bytes.count - position - 12 >= length else {
                throw .truncated("chunk \(type) needs \(length + 12) bytes at offset \(position), the file has \(bytes.count - position)")
            }
            let stored = UInt32(bigEndian(position + 8 + length))
            let computed = bytes.withUnsafeBytes { crc32Checksum(UnsafeRawBufferPointer(rebasing: $0[position + 4 ..< position + 8 + length])) }
            guard stored == computed else { throw .badCRC(chunk: type) }
            if size == nil {
                guard type == "IHDR", length == 13 else { throw .corrupt("the first chunk is \(type), expected a 13-byte IHDR") }
                size = (bigEndian(position + 8), bigEndian(position + 12))
                try RGBAImage.checkSize(width: size!.width, height: size!.height)
                let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(bytes[position + 17])] ?? 1
                bitsPerPixel = channels * Int(bytes[position + 16])
            }
            if type == "IDAT" { compressed += length }
            position += 12 + length
            if type == "IEND" {
                // Deflate expands at most about 1032:1: too little IDAT cannot hold the pixels, and
                // nothing is allocated for a header that claims them.
                let needed = size!.height * ((size!.width * bitsPerPixel + 7) / 8)
                guard compressed * 1032 >= needed else {
                    throw .truncated("\(compressed) bytes of image data cannot hold \(size!.width)x\(size!.height) pixels")
                }
                return size!
            }
        }
    }

    private static func libpngMessage(_ image: png_image) -> String {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return text.isEmpty ? "libpng could not decode it" : text
    }

    /// Encodes 8-bit grey (1 byte a pixel) or RGBA (4) rows as a PNG file's bytes.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(channels == 1 || channels == 4, "PNG.encode takes grey or RGBA")
        precondition(pixels.count == width * height * channels && width > 0 && height > 0, "pixels do not fill width × height")
        var image = png_image()
        image.version = cpng_image_version()
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = channels == 1 ? cpng_format_gray() : cpng_format_rgba()
        var size: png_alloc_size_t = 0
        let stride = png_int_32(width * channels)
        pixels.withUnsafeBytes { _ = png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, stride, nil) }
        var output = [UInt8](repeating: 0, count: Int(size))
        let ok = output.withUnsafeMutableBytes { out in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, out.baseAddress, &size, 0, $0.baseAddress, stride, nil) }
        }
        precondition(ok != 0, "libpng failed to encode an in-memory image: \(libpngMessage(image))")
        return Array(output.prefix(Int(size)))
    }
}
