// What the tool knows about MNIST-style datasets: their class names, the label
// of their first class, whether their images are stored transposed (EMNIST's
// are), and how to recognise their files. Data it does not recognise is its
// own dataset, named after its folder, its classes by number unless the spec
// or a `class_names.txt` beside the files names them.

/// A dataset the tool knows by name.
public struct KnownDataset: Sendable, Equatable {
    /// The dataset's name, as a spec's `dataset` gives it.
    public let name: String
    /// Its class names, in label order.
    public let classNames: [String]
    /// The label the files give the first class (EMNIST letters count from 1);
    /// the spec's `label_offset` must say so, so nothing is guessed.
    public let firstLabel: Int
    /// Pixels stored column by column: shown to people transposed back.
    public let transposed: Bool
    /// SHA-256 of the test split's images and labels as stored (`Dataset.contentSHA256`),
    /// which recognises the files whatever their folder is called; nil for the sets
    /// whose files this project has not seen, recognised by their EMNIST file
    /// prefix or their folder's name instead.
    public var testSHA256: String?

    static let digits = (0 ... 9).map(String.init)
    static let upper = (65 ... 90).map { String(UnicodeScalar(UInt8($0))) }
    static let lower = (97 ... 122).map { String(UnicodeScalar(UInt8($0))) }
    /// EMNIST's balanced and bymerge sets merge 15 lower-case letters into their capitals.
    static let mergedLower = ["a", "b", "d", "e", "f", "g", "h", "n", "q", "r", "t"]

    /// Every dataset whose class names this build knows.
    public static let all: [KnownDataset] = [
        KnownDataset(name: "mnist", classNames: digits, firstLabel: 0, transposed: false,
                     testSHA256: "c3f9adf9c66efb572b1f9326c3a511b45910c7173b97be66ceceeeeaef6b802b"),
        KnownDataset(name: "fashion-mnist", classNames: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                                         "Sneaker", "Bag", "Ankle boot"], firstLabel: 0, transposed: false,
                     testSHA256: "9f1ec356a747bfe4ebab3cfb722d3694c9ca737e2570f6f90cf31d7b6fd689d4"),
        // Kuzushiji-MNIST's ten hiragana (お き す つ な は ま や れ を), romanised.
        KnownDataset(name: "kmnist", classNames: ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"], firstLabel: 0, transposed: false),
        KnownDataset(name: "emnist-balanced", classNames: digits + upper + mergedLower, firstLabel: 0, transposed: true),
        KnownDataset(name: "emnist-byclass", classNames: digits + upper + lower, firstLabel: 0, transposed: true),
        KnownDataset(name: "emnist-bymerge", classNames: digits + upper + mergedLower, firstLabel: 0, transposed: true),
        KnownDataset(name: "emnist-letters", classNames: upper, firstLabel: 1, transposed: true),
        KnownDataset(name: "emnist-digits", classNames: digits, firstLabel: 0, transposed: true),
    ]

    /// The known dataset called `name` (case-insensitive), if any.
    public static func named(_ name: String) -> KnownDataset? { all.first { $0.name == name.lowercased() } }

    /// The known dataset these files are: by the test split's digest; else, for
    /// a set with no digest, by an EMNIST file prefix (`emnist-letters-t10k-...`)
    /// or the folder's name. A folder named after a set with a digest that its
    /// files do not match is not that set.
    static func recognise(testSHA256: String?, filePrefix: String?, folder: String) -> KnownDataset? {
        if let testSHA256, let known = all.first(where: { $0.testSHA256 == testSHA256 }) { return known }
        for name in [filePrefix, folder].compactMap({ $0 }) {
            if let known = named(name), known.testSHA256 == nil { return known }
        }
        return nil
    }
}

/// The class names of a dataset with `classCount` classes: the known dataset's
/// if it has that many, else the label numbers as the files write them.
public func classNames(forDataset name: String, classCount: Int = 10, labelOffset: Int = 0) -> [String] {
    if let known = KnownDataset.named(name), known.classNames.count == classCount { return known.classNames }
    return labelNumbers(classCount, offset: labelOffset)
}

/// Classes named by their labels as the files write them.
func labelNumbers(_ classCount: Int, offset: Int = 0) -> [String] { (0 ..< classCount).map { String($0 + offset) } }
