import Foundation

/// A dataset that could not be found or loaded.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case wrongElementType(path: String, expected: String, found: IDXElementType)
    case wrongRank(path: String, expected: String, found: [Int])
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    case empty(path: String)
    case notFound(name: String, searched: [String])
    case missingFile(directory: String, expected: [String])
    case shapeMismatch(path: String, expected: [Int], found: [Int])
    case labelBelowOffset(path: String, index: Int, label: Int, offset: Int)
    case classMissingFromTraining(path: String, index: Int, label: Int, trainingPath: String)
    case classNamesCount(source: String, names: Int, classCount: Int)
    case badClassNames(path: String, problem: String)
    /// Data that cannot be used, the problem in words (a CSV line, an .npz array, an image folder).
    case invalid(path: String, problem: String)
    /// A single CSV file given for training, which needs a test split too.
    case oneSplit(path: String)

    /// The problem in words for an `error:` line, naming the folder or file.
    public var description: String {
        switch self {
        case let .wrongElementType(path, expected, found):
            return "\(path): expected \(expected) elements, found \(found)"
        case let .wrongRank(path, expected, found):
            return "\(path): expected \(expected), found dimensions \(formatShape(found))"
        case let .countMismatch(imagesPath, images, labelsPath, labels):
            return "\(labelsPath): \(labels) labels for \(images) images in \(imagesPath); the counts must match"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(label) at index \(index) is outside 0..<\(classCount)"
        case let .labelBelowOffset(path, index, label, offset):
            return "\(path): label \(label) at index \(index) is below the spec's label_offset \(offset)"
        case let .classMissingFromTraining(path, index, label, trainingPath):
            return "\(path): label \(label) at index \(index) is a class the training split \(trainingPath) never has"
        case let .classNamesCount(source, names, classCount):
            return "\(source): \(names) class names for \(classCount) classes; give one name per class"
        case let .badClassNames(path, problem), let .invalid(path, problem):
            return "\(path): \(problem)"
        case let .oneSplit(path):
            return "\(path): a CSV file holds one split, and training needs a test split too: give it with --test-data FILE"
        case let .empty(path):
            return "\(path): holds no samples"
        case let .notFound(name, searched):
            return "dataset \"\(name)\" not found; looked in: \(searched.joined(separator: ", "))"
        case let .missingFile(directory, expected):
            return "\(directory): missing \(expected.joined(separator: " or "))"
        case let .shapeMismatch(path, expected, found):
            return "\(path): images are \(formatShape(found)), but the test split's are \(formatShape(expected))"
        }
    }
}

/// Labelled images kept as bytes: 47 MB for MNIST's training split rather than
/// 188 MB of floats. Batches become floats only as they are drawn.
public struct Dataset: Sendable {
    /// Pixels, `count × sampleSize`, row-major.
    public let images: [UInt8]
    /// Each sample's class, 0-based (after `label_offset`).
    public let labels: [UInt8]
    /// (height, width, channels).
    public let imageShape: [Int]
    /// The number of classes.
    public let classCount: Int
    /// One name per class: the spec's, a `class_names.txt`'s, a known dataset's,
    /// or the label numbers.
    public var classNames: [String]
    /// Stored column by column (EMNIST): pictures for people transpose them back.
    public var imagesTransposed = false
    /// What the data is: a known dataset recognised by its files, else the
    /// name of the folder it was read from (see `KnownDataset.recognise`).
    public var name = ""
    /// The name of the folder it was read from.
    public var folder = ""
    /// The form the data was read in.
    public var format = DataFormat.idx
    /// SHA-256 of the test split's images and labels as the files store them,
    /// when the test split was read: names the data by content in checkpoints.
    public var testSHA256: String?

    /// The number of samples.
    public var count: Int { labels.count }
    /// Values per sample: the product of `imageShape`.
    public var sampleSize: Int { imageShape.reduce(1, *) }

    /// A dataset from raw pixels (samples after one another) and labels.
    public init(images: [UInt8], labels: [UInt8], imageShape: [Int], classCount: Int, classNames: [String]? = nil) {
        precondition(images.count == labels.count * imageShape.reduce(1, *), "images do not fit the labels and shape")
        self.images = images
        self.labels = labels
        self.imageShape = imageShape
        self.classCount = classCount
        self.classNames = classNames ?? labelNumbers(classCount)
    }

    /// Pairs an images file (ubyte, N×H×W or N×H×W×C) with a labels file (ubyte,
    /// N). Labels become classes by subtracting `labelOffset`; with no
    /// `classCount` the largest class decides it.
    public static func load(imagesPath: String, labelsPath: String, classCount: Int? = 10, labelOffset: Int = 0) throws -> Dataset {
        let stored = try StoredSplit(idxImages: IDX.read(path: imagesPath), labels: IDX.read(path: labelsPath),
                                     imagesPath: imagesPath, labelsPath: labelsPath)
        return try labelled(stored, classCount: classCount, labelOffset: labelOffset)
    }

    /// A split as its files store it, checked: not empty, labels at or above
    /// `labelOffset`, classes (label − offset) below `classCount` (nil: the
    /// largest class + 1).
    static func labelled(_ stored: StoredSplit, classCount: Int?, labelOffset: Int) throws -> Dataset {
        guard !stored.labels.isEmpty, stored.imageShape.reduce(1, *) > 0 else { throw DatasetError.empty(path: stored.imagesPath) }
        var classes = stored.labels
        if labelOffset > 0 {
            if let bad = classes.firstIndex(where: { Int($0) < labelOffset }) {
                throw DatasetError.labelBelowOffset(path: stored.labelsPath, index: bad, label: Int(classes[bad]), offset: labelOffset)
            }
            let offset = UInt8(labelOffset)
            for k in classes.indices { classes[k] -= offset }
        }
        let count = classCount ?? Int(classes.max() ?? 0) + 1
        if let bad = classes.firstIndex(where: { Int($0) >= count }) {
            throw DatasetError.labelOutOfRange(path: stored.labelsPath, index: bad, label: Int(stored.labels[bad]), classCount: count)
        }
        return Dataset(images: stored.images, labels: classes, imageShape: stored.imageShape, classCount: count,
                       classNames: labelNumbers(count, offset: labelOffset))
    }

    /// SHA-256 of the images, then the labels as the files store them (before `labelOffset`).
    func contentSHA256(labelOffset: Int) -> String {
        sha256Hex(images + labels.map { $0 &+ UInt8(truncatingIfNeeded: labelOffset) })
    }

    /// Samples per class, in class order.
    public func labelHistogram() -> [Int] {
        var histogram = [Int](repeating: 0, count: classCount)
        for label in labels { histogram[Int(label)] += 1 }
        return histogram
    }

    /// Writes the samples at `indices` into `batch` as floats in [0, 1], one row
    /// each, in one pass; and their labels into `batchLabels`.
    public func gather(
        _ indices: UnsafeBufferPointer<Int32>, into batch: UnsafeMutablePointer<Float>,
        labels batchLabels: UnsafeMutablePointer<Int32>
    ) {
        let size = sampleSize
        images.withUnsafeBufferPointer { pixels in
            for (row, index) in indices.enumerated() {
                let source = pixels.baseAddress! + Int(index) * size
                let destination = batch + row * size
                // Sixteen bytes at a time: the scalar loop converts one by one.
                var k = 0
                while k + 16 <= size {
                    let bytes = UnsafeRawPointer(source + k).loadUnaligned(as: SIMD16<UInt8>.self)
                    UnsafeMutableRawPointer(destination + k).storeBytes(of: SIMD16<Float>(bytes) * (1 / 255), as: SIMD16<Float>.self)
                    k += 16
                }
                while k < size {
                    destination[k] = Float(source[k]) * (1 / 255)
                    k += 1
                }
                batchLabels[row] = Int32(labels[Int(index)])
            }
        }
    }
}

/// Finds a dataset: by `--data` (a folder of IDX files, of CSV files or of
/// class folders; an `.npz` or CSV file), else by name in the search path.
public struct DatasetLocator: Sendable {
    /// The two splits of a dataset: training and test.
    public enum Split: String, Sendable { case train, test }

    /// `--data`: the dataset's folder or file; when set, the only place looked in.
    public let explicitPath: String?
    /// `--test-data`: where the test split comes from instead (a CSV file, or any form's test split).
    public let explicitTestPath: String?
    /// `MNIST_DATA_DIR`: `<environmentDirectory>/<name>` is looked in first.
    public let environmentDirectory: String?
    /// The working directory: `data/<name>` under it is looked in third.
    public let workingDirectory: String
    /// Looked in last, as `<systemDirectory>/<name>` (Debian's datasets live in /usr/share/datasets).
    public let systemDirectory: String

    /// A locator searching the given places, in this order.
    public init(explicitPath: String? = nil, explicitTestPath: String? = nil, environmentDirectory: String? = nil,
                workingDirectory: String = ".", systemDirectory: String = "/usr/share/datasets") {
        self.explicitPath = explicitPath
        self.explicitTestPath = explicitTestPath
        self.environmentDirectory = environmentDirectory
        self.workingDirectory = workingDirectory
        self.systemDirectory = systemDirectory
    }

    /// Where a dataset may be, in order: `--data` (the dataset's own folder or
    /// file), `$MNIST_DATA_DIR/<name>`, `data/<name>` in the working directory,
    /// `/usr/share/datasets/<name>`.
    public func candidates(for name: String) -> [String] {
        if let explicitPath { return [explicitPath] }
        var places = [String]()
        if let environmentDirectory, !environmentDirectory.isEmpty { places.append("\(environmentDirectory)/\(name)") }
        places.append(workingDirectory == "." ? "data/\(name)" : "\(workingDirectory)/data/\(name)")
        places.append("\(systemDirectory)/\(name)")
        return places
    }

    /// The first candidate that holds a dataset in a form this tool reads.
    public func location(for name: String) throws -> DataLocation {
        let places = candidates(for: name)
        for place in places {
            if let location = try DataLocation.detect(place, name: name) { return location }
        }
        if let explicitPath, isDirectory(explicitPath) {
            throw DatasetError.missingFile(directory: explicitPath, expected: [Self.spellings(.train, kind: "images")[0] + "[.gz]", "train.csv", "train/<class>/ folders"])
        }
        throw DatasetError.notFound(name: name, searched: places)
    }

    /// The images and labels paths of one split in `directory`; with a dataset
    /// `name`, EMNIST's spelling (`emnist-letters-train-images-idx3-ubyte`) too.
    public static func files(_ split: Split, in directory: String, name: String? = nil) throws -> (images: String, labels: String) {
        func find(_ kind: String) throws -> String {
            guard let path = file(split, kind: kind, in: directory, name: name) else {
                throw DatasetError.missingFile(directory: directory, expected: [spellings(split, kind: kind)[0] + "[.gz]"])
            }
            return path
        }
        return (try find("images"), try find("labels"))
    }

    /// MNIST's file names, both the `-idx3-` and the `.idx3-` spellings, gzip or raw.
    static func spellings(_ split: Split, kind: String) -> [String] {
        let prefix = split == .train ? "train" : "t10k"
        let ranks = kind == "images" ? ["3", "4"] : ["1"]
        return ranks.flatMap { rank in ["-", "."].map { "\(prefix)-\(kind)\($0)idx\(rank)-ubyte" } }
    }

    static func file(_ split: Split, kind: String, in directory: String, name dataset: String? = nil) -> String? {
        let prefixes = [""] + (dataset.map { ["\($0)-"] } ?? [])
        for prefix in prefixes {
            for name in spellings(split, kind: kind) {
                for suffix in [".gz", ""] {
                    let path = "\(directory)/\(prefix)\(name)\(suffix)"
                    if isRegularFile(path) { return path }
                }
            }
        }
        return nil
    }

    /// The first of `names` found: `--data`'s path when given, else the first
    /// name with data in the search path (the error lists where the first name
    /// was looked for).
    public func location(forAny names: [String]) throws -> DataLocation {
        var firstError: Error?
        for name in names {
            do { return try location(for: name) } catch { firstError = firstError ?? error }
        }
        throw firstError ?? DatasetError.notFound(name: "", searched: [])
    }

    /// `--test-data`'s location, if given.
    func testLocation() throws -> DataLocation? {
        guard let explicitTestPath else { return nil }
        guard let location = try DataLocation.detect(explicitTestPath) else {
            if isDirectory(explicitTestPath) {
                throw DatasetError.missingFile(directory: explicitTestPath, expected: [Self.spellings(.test, kind: "images")[0] + "[.gz]", "test.csv", "test/<class>/ folders"])
            }
            throw DatasetError.notFound(name: explicitTestPath, searched: [explicitTestPath])
        }
        return location
    }

    /// Loads one split of the dataset found under the first of `names`
    /// (evaluation: the labels settings come from the checkpoint, its class
    /// count and names included); `--test-data` supplies the test split. The
    /// test split is recognised by content.
    public func load(_ names: [String], split: Split, labels: LabelSettings = LabelSettings(), images: ImageSettings = ImageSettings()) throws -> Dataset {
        let location = try (split == .test ? testLocation() : nil) ?? location(forAny: names)
        var data = try location.dataset(split, labels: labels, images: images, classCount: labels.classes)
        if split == .test { data.testSHA256 = data.contentSHA256(labelOffset: labels.labelOffset) }
        try data.identify(labels: labels, location: location)
        return data
    }

    /// Both splits of the dataset found under the first of `names` (the test
    /// split from `--test-data` when given), checked to hold images of one
    /// shape, and test classes the training split has. The class count is the
    /// spec's `classes`, else the training split's largest class + 1 (image
    /// folders: their count). What the data is comes from its files, not from `names`.
    public func loadTrainAndTest(_ names: [String], labels: LabelSettings = LabelSettings(), images: ImageSettings = ImageSettings()) throws -> (directory: String, train: Dataset, test: Dataset) {
        let location = try location(forAny: names)
        let testLocation = try testLocation() ?? location
        if explicitTestPath == nil, location.isOneSplit { throw DatasetError.oneSplit(path: location.path) }
        var train = try location.dataset(.train, labels: labels, images: images, classCount: labels.classes)
        var test = try testLocation.dataset(.test, labels: labels, images: images, classCount: train.classCount)
        let testPath = test.folder
        guard test.imageShape == train.imageShape else {
            throw DatasetError.shapeMismatch(path: testPath, expected: train.imageShape, found: test.imageShape)
        }
        let seen = train.labelHistogram()
        if let bad = test.labels.firstIndex(where: { seen[Int($0)] == 0 }) {
            throw DatasetError.classMissingFromTraining(path: testPath, index: bad, label: Int(test.labels[bad]) + labels.labelOffset,
                                                        trainingPath: train.folder)
        }
        train.testSHA256 = test.contentSHA256(labelOffset: labels.labelOffset)
        try train.identify(labels: labels, location: location)
        (test.classNames, test.imagesTransposed, test.name, test.folder, test.testSHA256, test.format) =
            (train.classNames, train.imagesTransposed, train.name, train.folder, train.testSHA256, train.format)
        return (location.path, train, test)
    }
}

extension DataLocation {
    /// One split read and checked; image folders number their classes by the
    /// training split's folders. `folder` holds the labels' path for errors
    /// until `identify` names it.
    func dataset(_ split: DatasetLocator.Split, labels: LabelSettings, images: ImageSettings, classCount: Int?) throws -> Dataset {
        let classFolders = try classFolders()
        if format == .imageFolders, labels.labelOffset != 0 {
            throw ConfigError(path: "label_offset", message: "\(path) holds folders of images, whose classes are numbered by their folder names from 0; label_offset applies to stored labels")
        }
        let stored = try read(split, settings: images, classFolders: classFolders)
        var data = try Dataset.labelled(stored, classCount: classCount ?? (classFolders.isEmpty ? nil : classFolders.count), labelOffset: labels.labelOffset)
        data.folder = stored.labelsPath
        data.format = format
        if format == .imageFolders { data.classNames = classFolders }
        return data
    }
}

/// How a spec reads a dataset's labels: Keras' conventions plus `classes`,
/// `label_offset` and `class_names`.
public struct LabelSettings: Sendable, Equatable {
    /// The class count; nil: the training split's largest class + 1.
    public var classes: Int?
    /// Subtracted from every label (EMNIST letters count from 1).
    public var labelOffset = 0
    /// The class names (nil: the dataset's own, or the label numbers).
    public var classNames: [String]?

    /// Settings with the given class count, offset and names.
    public init(classes: Int? = nil, labelOffset: Int = 0, classNames: [String]? = nil) {
        (self.classes, self.labelOffset, self.classNames) = (classes, labelOffset, classNames)
    }

    /// The spec's `classes`, `label_offset` and `class_names`.
    public init(spec: ModelSpec) {
        self.init(classes: spec.classes, labelOffset: spec.labelOffset, classNames: spec.classNames)
    }
}

extension Dataset {
    /// Says what the data at `location` is: a known dataset recognised by
    /// `testSHA256` or, for sets without one, by an EMNIST file prefix or the
    /// data's name; else the data's own name (its folder's, or an `.npz`
    /// file's). Then names the classes: the settings' names, else
    /// `class_names.txt` beside the data (one per line), else image folders'
    /// names, else the known dataset's, else the label numbers.
    mutating func identify(labels: LabelSettings, location: DataLocation) throws {
        folder = location.displayName
        let trainImages = location.format == .idx ? DatasetLocator.file(.train, kind: "images", in: location.path, name: location.name) : nil
        let fileName = URL(fileURLWithPath: trainImages ?? "").lastPathComponent
        let prefix = fileName.range(of: "-train-").map { String(fileName[..<$0.lowerBound]) }
        let known = KnownDataset.recognise(testSHA256: testSHA256, filePrefix: prefix, folder: folder)
        name = known?.name ?? folder
        if let known, known.firstLabel != labels.labelOffset {
            throw ConfigError(path: "label_offset", message: "\(location.path) holds \(known.name), which labels its first class \(known.firstLabel), so the spec needs \"label_offset\": \(known.firstLabel) (it has \(labels.labelOffset))")
        }
        imagesTransposed = known?.transposed ?? false
        let namesFile = "\(location.folder)/class_names.txt"
        let folderNames = location.format == .imageFolders ? classNames : nil
        let (names, source) = try labels.classNames.map { ($0, "class_names") }
            ?? (isRegularFile(namesFile) ? (Dataset.readClassNames(namesFile), namesFile) : nil)
            ?? folderNames.map { ($0, "\(location.path)/train") }
            ?? (MNISTKit.classNames(forDataset: known?.name ?? "", classCount: classCount, labelOffset: labels.labelOffset), "")
        guard names.count == classCount else { throw DatasetError.classNamesCount(source: source, names: names.count, classCount: classCount) }
        classNames = names
    }

    /// A `class_names.txt`: one name per line, trailing blank lines ignored.
    static func readClassNames(_ file: String) throws -> [String] {
        let bytes: [UInt8]
        do {
            let source = try FileSource(path: file)
            guard source.size <= 1 << 20 else { throw DatasetError.badClassNames(path: file, problem: "larger than 1 MiB; expected one class name per line") }
            bytes = try source.read(upTo: source.size)
        } catch let problem as FileProblem { throw DatasetError.badClassNames(path: file, problem: problem.description) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw DatasetError.badClassNames(path: file, problem: "not UTF-8 text") }
        var names = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        while names.last == "" { names.removeLast() }
        if let blank = names.firstIndex(of: "") { throw DatasetError.badClassNames(path: file, problem: "line \(blank + 1) is empty; expected one class name per line") }
        return names
    }
}

func isRegularFile(_ path: String) -> Bool {
    (try? FileSource(path: path)) != nil
}
