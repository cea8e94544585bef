/// Confusion matrix and per-class precision and recall of a set of predictions.
public struct ClassificationReport: Equatable, Sendable {
    /// confusion[true][predicted] counts.
    public let confusion: [[Int]]

    public init(labels: [UInt8], predictions: [Int32], classCount: Int) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (label, predicted) in zip(labels, predictions) { confusion[Int(label)][Int(predicted)] += 1 }
        self.confusion = confusion
    }

    public var samples: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    public var accuracy: Double {
        Double(confusion.indices.reduce(0) { $0 + confusion[$1][$1] }) / Double(max(samples, 1))
    }

    /// Of the samples predicted as `c`, the share that are `c` (0 when none are predicted).
    public func precision(_ c: Int) -> Double {
        let predicted = confusion.reduce(0) { $0 + $1[c] }
        return predicted == 0 ? 0 : Double(confusion[c][c]) / Double(predicted)
    }

    /// Of the samples that are `c`, the share predicted as `c` (0 when there are none).
    public func recall(_ c: Int) -> Double {
        let actual = confusion[c].reduce(0, +)
        return actual == 0 ? 0 : Double(confusion[c][c]) / Double(actual)
    }
}

/// An image as text: one character per pixel, darker characters for brighter pixels.
public func textArt(pixels: ArraySlice<UInt8>, width: Int) -> String {
    let shades = Array(" .:-=+*#%@")
    var lines = [String]()
    var line = ""
    for (index, pixel) in pixels.enumerated() {
        line.append(shades[Int(pixel) * shades.count / 256])
        if (index + 1) % width == 0 {
            lines.append(line)
            line = ""
        }
    }
    if !line.isEmpty { lines.append(line) }
    return lines.joined(separator: "\n")
}
