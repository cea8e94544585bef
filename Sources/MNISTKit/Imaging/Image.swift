// Decoded images: 8-bit RGBA in rows, whatever the file held, and the errors
// reading one can end in.

/// A decoded picture: `width` × `height` pixels of 8-bit red, green, blue and
/// (straight, not premultiplied) alpha, row after row from the top.
public struct RGBAImage: Equatable, Sendable {
    /// Pixels per row.
    public let width: Int
    /// Rows.
    public let height: Int
    /// `width * height * 4` bytes: R, G, B, A for each pixel.
    public var pixels: [UInt8]

    /// An image of `pixels` (`width * height * 4` bytes, RGBA).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 4, "RGBA pixels must be width × height × 4 bytes")
        (self.width, self.height, self.pixels) = (width, height, pixels)
    }

    /// True when some pixel is not fully opaque.
    public var hasTransparency: Bool { stride(from: 3, to: pixels.count, by: 4).contains { pixels[$0] != 255 } }
}

/// The largest pictures the readers accept, checked from the header before any pixel is decoded.
public enum ImageLimits {
    /// Longest side, in pixels.
    public static let maximumSide = 16_384
    /// Width × height.
    public static let maximumPixels = 25_000_000
    /// Size of the file itself.
    public static let maximumFileBytes = 256 << 20
}

/// Why one image file could not be used; `description` is "<file>: <problem>".
public struct ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong with one image file.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        /// The file could not be opened or read.
        case file(FileProblem)
        /// The file holds no bytes.
        case empty
        /// No PNG, PGM or PPM signature at the start.
        case notAnImage
        /// A recognised format or variant this reader does not take (JPEG, PBM, ...).
        case unsupported(String)
        /// The data ends before the image does.
        case truncated(String)
        /// A PNG chunk whose CRC-32 does not match its contents.
        case badCRC(chunk: String)
        /// Structurally wrong data, in the decoder's words.
        case corrupt(String)
        /// Larger than `ImageLimits` allow.
        case tooLarge(width: Int, height: Int)
        /// `--no-preprocess` was given a picture that is not the model's input size.
        case wrongSize(expected: (width: Int, height: Int), found: (width: Int, height: Int))
        /// Nothing but background: no ink to centre.
        case blank

        /// The problem in words, after "<file>: " on the `error:` line.
        public var description: String {
            switch self {
            case let .file(problem): return problem.description
            case .empty: return "empty file"
            case .notAnImage: return "not an image (no PNG, PGM or PPM signature)"
            case let .unsupported(what): return "unsupported format: \(what)"
            case let .truncated(what): return "truncated: \(what)"
            case let .badCRC(chunk): return "bad CRC in PNG chunk \(chunk): the file is damaged"
            case let .corrupt(what): return "corrupt image: \(what)"
            case let .tooLarge(width, height):
                return "image is \(width)x\(height), over the limit of \(ImageLimits.maximumSide) pixels a side "
                    + "and \(ImageLimits.maximumPixels) in all"
            case let .wrongSize(expected, found):
                return "image is \(found.width)x\(found.height), the model takes \(expected.width)x\(expected.height) "
                    + "(MNIST-style preparation would scale and centre it)"
            case .blank: return "the image is blank: no ink stands out from the background"
            }
        }

        /// Problems are equal when they read the same.
        public static func == (a: Problem, b: Problem) -> Bool { a.description == b.description }
    }

    /// The image file.
    public let path: String
    /// What is wrong with it.
    public let problem: Problem

    /// An error about the image at `path`.
    public init(path: String, problem: Problem) { (self.path, self.problem) = (path, problem) }

    /// "<path>: <problem>".
    public var description: String { "\(path): \(problem)" }
}

extension RGBAImage {
    /// Reads a PNG, PGM or PPM file, told apart by its first bytes.
    public static func read(path: String) throws(ImageError) -> RGBAImage {
        let bytes: [UInt8]
        do {
            let file = try FileSource(path: path)
            guard file.size <= ImageLimits.maximumFileBytes else {
                throw FileProblem.system("\(file.size) bytes is larger than images may be (\(ImageLimits.maximumFileBytes) bytes)")
            }
            bytes = try file.read(upTo: file.size)
        } catch let problem as FileProblem {
            throw ImageError(path: path, problem: .file(problem))
        } catch {
            throw ImageError(path: path, problem: .file(.system("\(error)")))
        }
        do {
            return try decode(bytes)
        } catch {
            throw ImageError(path: path, problem: error)
        }
    }

    /// Decodes PNG, PGM or PPM bytes.
    public static func decode(_ bytes: [UInt8]) throws(ImageError.Problem) -> RGBAImage {
        guard !bytes.isEmpty else { throw .empty }
        if bytes.starts(with: PNG.signature) { return try PNG.decode(bytes) }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), (UInt8(ascii: "1") ... UInt8(ascii: "7")).contains(bytes[1]) {
            return try PNM.decode(bytes)
        }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { throw .unsupported("JPEG (convert it to PNG)") }
        if bytes.starts(with: Array("GIF8".utf8)) { throw .unsupported("GIF (convert it to PNG)") }
        if bytes.starts(with: Array("BM".utf8)) { throw .unsupported("BMP (convert it to PNG)") }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8 ..< 12]) == Array("WEBP".utf8) {
            throw .unsupported("WebP (convert it to PNG)")
        }
        throw .notAnImage
    }

    static func checkSize(width: Int, height: Int) throws(ImageError.Problem) {
        guard width > 0, height > 0 else { throw .corrupt("width and height must be positive, found \(width)x\(height)") }
        guard width <= ImageLimits.maximumSide, height <= ImageLimits.maximumSide, width * height <= ImageLimits.maximumPixels else {
            throw .tooLarge(width: width, height: height)
        }
    }
}
