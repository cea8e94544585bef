import Foundation

/// Kaggle's CSV layout (Digit Recognizer, Fashion-MNIST): an optional header
/// (`label,pixel0,...`), then one image a row, its label first, every value an
/// integer from 0 to 255. Blank lines are skipped; lines may end in CRLF.
enum CSVImages {
    /// The most pixels a row may have (a header claiming more is refused before anything is allocated).
    static let maximumPixels = ImageLimits.maximumPixels

    /// Reads `path`; the image shape is `inputShape`'s when it holds as many
    /// pixels as a row, else the square root of the pixel count.
    static func read(path: String, inputShape: [Int]?) throws -> StoredSplit {
        do { _ = try FileSource(path: path) } catch { throw DatasetError.invalid(path: path, problem: error.description) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw DatasetError.invalid(path: path, problem: "cannot be read: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { raw throws -> StoredSplit in
            try parse(raw.bindMemory(to: UInt8.self), path: path, inputShape: inputShape)
        }
    }

    /// Parses CSV text `bytes` read from `path`.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, path: String, inputShape: [Int]?) throws -> StoredSplit {
        func fail(_ line: Int, _ problem: String) -> DatasetError { .invalid(path: path, problem: "line \(line): \(problem)") }
        let (comma, newline, carriageReturn) = (UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r"))
        let end = bytes.count
        // Lines as [start, end) without their CR, the line number beside.
        func lineEnd(from start: Int) -> (content: Int, next: Int) {
            var k = start
            while k < end, bytes[k] != newline { k += 1 }
            let content = k > start && bytes[k - 1] == carriageReturn ? k - 1 : k
            return (content, min(k + 1, end))
        }
        func fieldCount(_ range: Range<Int>) -> Int { 1 + range.reduce(0) { $0 + (bytes[$1] == comma ? 1 : 0) } }
        var start = 0, lineNumber = 1, first = lineEnd(from: 0)
        while start < end, first.content == start { (start, lineNumber) = (first.next, lineNumber + 1); first = lineEnd(from: start) }
        guard start < end else { throw DatasetError.empty(path: path) }
        let columns = fieldCount(start ..< first.content)
        guard columns >= 2 else { throw fail(lineNumber, "has 1 column; expected the label, then the pixels") }
        guard columns - 1 <= maximumPixels else {
            throw fail(lineNumber, "has \(columns) columns: more than the \(maximumPixels) pixels an image may have")
        }
        // A header: the first field is not a number.
        let firstField = Array(bytes[start ..< (start ..< first.content).first { bytes[$0] == comma }!])
        var header: [String]?
        if !firstField.allSatisfy({ (48 ... 57).contains($0) }) || firstField.isEmpty {
            // Split on the comma byte: a comma followed by a combining mark is one Character.
            let names = bytes[start ..< first.content].split(separator: comma, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if names[0].lowercased().hasPrefix("pixel") {
                throw fail(lineNumber, "the first column is \(names[0]), not a label: this file has no labels (Kaggle's unlabelled test.csv?)")
            }
            header = names
            (start, lineNumber) = (first.next, lineNumber + 1)
        }
        let pixels = columns - 1
        let shape = try imageShape(pixels: pixels, inputShape: inputShape, path: path)

        // Rows are at most the lines left; each takes at least 2 bytes a value, so this is below the file's size.
        var newlines = 0
        for k in start ..< end where bytes[k] == newline { newlines += 1 }
        let rowBound = newlines + 1
        var images = [UInt8](repeating: 0, count: rowBound > end / pixels ? end : rowBound * pixels)
        var labels = [UInt8]()
        labels.reserveCapacity(rowBound)
        try images.withUnsafeMutableBufferPointer { images in
            var row = 0
            while start < end {
                let line = lineEnd(from: start)
                defer { (start, lineNumber) = (line.next, lineNumber + 1) }
                if line.content == start { continue }
                var k = start, column = 0
                while true {
                    var value = 0, digits = 0
                    let fieldStart = k
                    while k < line.content, bytes[k] != comma {
                        let digit = Int(bytes[k]) - 48
                        if digit < 0 || digit > 9 || digits == 3 { digits = -1; break }
                        (value, digits) = (value * 10 + digit, digits + 1)
                        k += 1
                    }
                    if digits <= 0 || value > 255 {
                        while k < line.content, bytes[k] != comma { k += 1 }
                        let text = String(decoding: bytes[fieldStart ..< min(k, fieldStart + 24)], as: UTF8.self)
                        let name = header.map { " (\($0[column]))" } ?? ""
                        throw fail(lineNumber, "column \(column + 1)\(name): \"\(text)\" is not an integer from 0 to 255")
                    }
                    if column == 0 { labels.append(UInt8(value)) } else { images[row * pixels + column - 1] = UInt8(value) }
                    column += 1
                    if k == line.content || column == columns { break }
                    k += 1
                }
                if column < columns || k < line.content {
                    let found = fieldCount(start ..< line.content)
                    throw fail(lineNumber, "has \(found) columns; every row needs \(columns) (the label and \(pixels) pixels), as the first has")
                }
                row += 1
            }
        }
        guard !labels.isEmpty else { throw DatasetError.empty(path: path) }
        images.removeSubrange((labels.count * pixels)...)
        return StoredSplit(images: images, labels: labels, imageShape: shape, imagesPath: path, labelsPath: path)
    }

    /// (height, width, channels) of a row of `pixels`: the spec's input shape
    /// when it holds that many, else a square.
    static func imageShape(pixels: Int, inputShape: [Int]?, path: String) throws -> [Int] {
        if let inputShape, inputShape.count >= 2, inputShape.reduce(1, *) == pixels {
            return inputShape.count == 2 ? inputShape + [1] : inputShape
        }
        let side = Int(Double(pixels).squareRoot().rounded())
        guard side * side == pixels else {
            throw DatasetError.invalid(path: path, problem: "rows of \(pixels) pixels are not a square image; give the spec's input_shape as [height, width] or [height, width, channels]")
        }
        return [side, side, 1]
    }
}
