public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case wrongElementType(path: String, expected: String, found: IDXElementType)
    case wrongRank(path: String, expected: String, found: [Int])
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    case empty(path: String)
    case notFound(name: String, searched: [String])
    case missingFile(directory: String, expected: [String])
    case shapeMismatch(path: String, expected: [Int], found: [Int])

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
        case let .empty(path):
            return "\(path): holds no samples"
        case let .notFound(name, searched):
            return "dataset \"\(name)\" not found; looked in: \(searched.joined(separator: ", ")) (pass --data DIR, a folder holding its four IDX files, or set MNIST_DATA_DIR to a folder holding \(name)/)"
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
    public let labels: [UInt8]
    /// (height, width, channels).
    public let imageShape: [Int]
    public let classCount: Int

    public var count: Int { labels.count }
    public var sampleSize: Int { imageShape.reduce(1, *) }

    public init(images: [UInt8], labels: [UInt8], imageShape: [Int], classCount: Int) {
        precondition(images.count == labels.count * imageShape.reduce(1, *), "images do not fit the labels and shape")
        self.images = images
        self.labels = labels
        self.imageShape = imageShape
        self.classCount = classCount
    }

    /// Pairs an images file (ubyte, N×H×W or N×H×W×C) with a labels file (ubyte, N).
    public static func load(imagesPath: String, labelsPath: String, classCount: Int = 10) throws -> Dataset {
        let images = try IDX.read(path: imagesPath)
        let labels = try IDX.read(path: labelsPath)
        guard images.elementType == .uint8 else {
            throw DatasetError.wrongElementType(path: imagesPath, expected: "ubyte (0x08) image", found: images.elementType)
        }
        guard images.dimensions.count == 3 || images.dimensions.count == 4 else {
            throw DatasetError.wrongRank(path: imagesPath, expected: "images of rank 3 (N, H, W) or 4 (N, H, W, C)", found: images.dimensions)
        }
        guard labels.elementType == .uint8 else {
            throw DatasetError.wrongElementType(path: labelsPath, expected: "ubyte (0x08) label", found: labels.elementType)
        }
        guard labels.dimensions.count == 1 else {
            throw DatasetError.wrongRank(path: labelsPath, expected: "labels of rank 1 (N)", found: labels.dimensions)
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DatasetError.countMismatch(imagesPath: imagesPath, images: images.dimensions[0], labelsPath: labelsPath, labels: labels.dimensions[0])
        }
        guard labels.dimensions[0] > 0, images.elementCount > 0 else { throw DatasetError.empty(path: imagesPath) }
        if let bad = labels.payload.firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError.labelOutOfRange(path: labelsPath, index: bad, label: Int(labels.payload[bad]), classCount: classCount)
        }
        var shape = Array(images.dimensions.dropFirst())
        if shape.count == 2 { shape.append(1) }
        return Dataset(images: images.payload, labels: labels.payload, imageShape: shape, classCount: classCount)
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

/// Finds the four IDX files of a dataset by name.
public struct DatasetLocator: Sendable {
    public enum Split: String, Sendable { case train, test }

    public let explicitDirectory: String?
    public let environmentDirectory: String?
    public let workingDirectory: String
    public let systemDirectory: String

    public init(explicitDirectory: String? = nil, environmentDirectory: String? = nil,
                workingDirectory: String = ".", systemDirectory: String = "/usr/share/datasets") {
        self.explicitDirectory = explicitDirectory
        self.environmentDirectory = environmentDirectory
        self.workingDirectory = workingDirectory
        self.systemDirectory = systemDirectory
    }

    /// Where a dataset may be, in order: `--data DIR` (the dataset's own folder),
    /// `$MNIST_DATA_DIR/<name>`, `data/<name>` in the working directory,
    /// `/usr/share/datasets/<name>`.
    public func candidates(for name: String) -> [String] {
        if let explicitDirectory { return [explicitDirectory] }
        var places = [String]()
        if let environmentDirectory, !environmentDirectory.isEmpty { places.append("\(environmentDirectory)/\(name)") }
        places.append(workingDirectory == "." ? "data/\(name)" : "\(workingDirectory)/data/\(name)")
        places.append("\(systemDirectory)/\(name)")
        return places
    }

    /// The first candidate directory that holds the training images.
    public func directory(for name: String) throws -> String {
        let places = candidates(for: name)
        for place in places where Self.file(.train, kind: "images", in: place) != nil { return place }
        throw DatasetError.notFound(name: name, searched: places)
    }

    /// The images and labels paths of one split in `directory`.
    public static func files(_ split: Split, in directory: String) throws -> (images: String, labels: String) {
        func find(_ kind: String) throws -> String {
            guard let path = file(split, kind: kind, in: directory) else {
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

    static func file(_ split: Split, kind: String, in directory: String) -> String? {
        for name in spellings(split, kind: kind) {
            for suffix in [".gz", ""] {
                let path = "\(directory)/\(name)\(suffix)"
                if isRegularFile(path) { return path }
            }
        }
        return nil
    }

    /// Loads one split of the dataset `name`.
    public func load(_ name: String, split: Split, classCount: Int = 10) throws -> Dataset {
        let paths = try Self.files(split, in: try directory(for: name))
        return try Dataset.load(imagesPath: paths.images, labelsPath: paths.labels, classCount: classCount)
    }

    /// Both splits of the dataset `name`, checked to hold images of one shape.
    public func loadTrainAndTest(_ name: String) throws -> (directory: String, train: Dataset, test: Dataset) {
        let directory = try directory(for: name)
        let trainFiles = try Self.files(.train, in: directory), testFiles = try Self.files(.test, in: directory)
        let train = try Dataset.load(imagesPath: trainFiles.images, labelsPath: trainFiles.labels)
        let test = try Dataset.load(imagesPath: testFiles.images, labelsPath: testFiles.labels)
        guard test.imageShape == train.imageShape else {
            throw DatasetError.shapeMismatch(path: testFiles.images, expected: train.imageShape, found: test.imageShape)
        }
        return (directory, train, test)
    }
}

func isRegularFile(_ path: String) -> Bool {
    (try? FileSource(path: path)) != nil
}
