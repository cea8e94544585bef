/// Confusion matrix and per-class precision and recall of a set of predictions.
public struct ClassificationReport: Equatable, Sendable {
    /// confusion[true][predicted] counts.
    public let confusion: [[Int]]

    /// Counts `predictions` against `labels` (same order) over `classCount` classes.
    public init(labels: [UInt8], predictions: [Int32], classCount: Int) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (label, predicted) in zip(labels, predictions) { confusion[Int(label)][Int(predicted)] += 1 }
        self.confusion = confusion
    }

    /// The number of samples counted.
    public var samples: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    /// The share of samples predicted as their label.
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

    /// The harmonic mean of precision and recall (0 when both are), as scikit-learn's f1_score.
    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// The samples that are `c`.
    public func support(_ c: Int) -> Int { confusion[c].reduce(0, +) }

    /// Precision, recall and F1 averaged over the classes.
    public struct Averages: Equatable, Sendable {
        /// The averaged figures.
        public let precision: Double, recall: Double, f1: Double
    }

    /// The plain mean over classes (scikit-learn's "macro avg").
    public var macroAverage: Averages { average { _ in 1 } }

    /// The mean over classes weighted by their support ("weighted avg").
    public var weightedAverage: Averages { average { Double(support($0)) } }

    private func average(_ weight: (Int) -> Double) -> Averages {
        let classes = confusion.indices
        let total = classes.reduce(0) { $0 + weight($1) }
        func mean(_ value: (Int) -> Double) -> Double { total == 0 ? 0 : classes.reduce(0) { $0 + weight($1) * value($1) } / total }
        return Averages(precision: mean(precision), recall: mean(recall), f1: mean(f1))
    }
}
