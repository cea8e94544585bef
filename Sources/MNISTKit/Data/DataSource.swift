import Foundation

// The forms a dataset comes in (IDX files, Keras' .npz, Kaggle's CSV, folders
// of images per class), told apart by what a path is rather than its name, and
// read into the same thing: one split's pixels and labels as stored.

/// One split as its files store it: pixels, labels before any `label_offset`,
/// and the files errors name.
struct StoredSplit {
    var images: [UInt8]
    var labels: [UInt8]
    /// (height, width, channels).
    var imageShape: [Int]
    var imagesPath: String
    var labelsPath: String
}

/// The form a dataset is stored in.
public enum DataFormat: String, Sendable, CaseIterable {
    /// MNIST's four IDX files in a folder, raw or gzip.
    case idx
    /// NumPy's `.npz` with Keras' keys `x_train`, `y_train`, `x_test`, `y_test`.
    case npz
    /// Kaggle's CSV: one image a row, the label first; `train.csv` and `test.csv` or a file per split.
    case csv
    /// `train/<class>/*.png` and `test/<class>/*.png`, as torchvision's `ImageFolder` reads them.
    case imageFolders = "image-folders"

    /// The form in words.
    public var summary: String {
        switch self {
        case .idx: return "IDX files"
        case .npz: return "NumPy .npz archive (x_train, y_train, x_test, y_test)"
        case .csv: return "CSV, one image a row with its label first"
        case .imageFolders: return "folders of images, one per class"
        }
    }
}

/// How pictures in image folders become samples.
public enum ImagePreparation: String, Sendable, CaseIterable {
    /// Grayscale (Rec. 601 luma, alpha over black), resized only when `image_size` asks.
    case asIs = "as_is"
    /// As `mnist-predict` prepares a picture: inverted if light, centred by mass in a 28x28 field.
    case mnist
}

/// What the spec says about images: the shape a CSV row takes, and how image
/// folders' pictures are sized and prepared.
public struct ImageSettings: Sendable, Equatable {
    /// The spec's `input_shape`: a CSV row of that many pixels takes its shape.
    public var inputShape: [Int]?
    /// (height, width) every picture is resized to; nil: their own size, which must be one.
    public var imageSize: [Int]?
    /// How pictures become samples.
    public var prepare = ImagePreparation.asIs

    /// Settings with the given fields.
    public init(inputShape: [Int]? = nil, imageSize: [Int]? = nil, prepare: ImagePreparation = .asIs) {
        (self.inputShape, self.imageSize, self.prepare) = (inputShape, imageSize, prepare)
    }

    /// The spec's `input_shape`, `image_size` and `prepare`.
    public init(spec: ModelSpec) {
        self.init(inputShape: spec.inputShape, imageSize: spec.imageSize, prepare: spec.prepare)
    }
}

/// A dataset on disk: its form and path, detected from what the path is.
public struct DataLocation: Sendable, Equatable {
    /// The form.
    public let format: DataFormat
    /// The folder, `.npz` file or CSV file.
    public let path: String
    /// A dataset name whose prefix EMNIST's IDX files may carry (`emnist-letters-train-...`).
    public var name: String?

    /// A CSV folder's file of one split.
    static func csvFile(_ split: DatasetLocator.Split, in folder: String) -> String { "\(folder)/\(split.rawValue).csv" }

    /// A single CSV file: one split, the same whichever is asked for.
    public var isOneSplit: Bool { format == .csv && isRegularFile(path) }

    /// What `path` holds: a folder of IDX files, of `train.csv`, or of `train/`
    /// and `test/` class folders; an `.npz` (zip) file; a CSV file. Nil when
    /// nothing is there or a folder holds none of these.
    public static func detect(_ path: String, name: String? = nil) throws -> DataLocation? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            if DatasetLocator.file(.train, kind: "images", in: path, name: name) != nil { return DataLocation(format: .idx, path: path, name: name) }
            if isRegularFile(csvFile(.train, in: path)) { return DataLocation(format: .csv, path: path) }
            if isDirectory("\(path)/train") { return DataLocation(format: .imageFolders, path: path) }
            return nil
        }
        let start: [UInt8]
        do { start = try FileSource(path: path).read(upTo: 4) } catch { throw DatasetError.invalid(path: path, problem: "\(error)") }
        if start.starts(with: NumPyArchive.signature) { return DataLocation(format: .npz, path: path) }
        if start.starts(with: [0x1F, 0x8B]) || (start.count == 4 && start[0] == 0 && start[1] == 0) {
            throw DatasetError.invalid(path: path, problem: "is an IDX file (gzip or raw); give the folder that holds the four IDX files")
        }
        return DataLocation(format: .csv, path: path)
    }

    /// The folder `class_names.txt` is looked for in: the dataset's, or the file's.
    var folder: String {
        let parent = (path as NSString).deletingLastPathComponent
        return isDirectory(path) ? path : parent.isEmpty ? "." : parent
    }

    /// What the data is called when no known dataset is recognised: its
    /// folder's name, an `.npz` file's name without `.npz`, a CSV file's folder's name.
    var displayName: String {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        switch format {
        case .npz: return url.pathExtension.lowercased() == "npz" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
        case .csv where !isDirectory(path): return url.deletingLastPathComponent().lastPathComponent
        default: return url.lastPathComponent
        }
    }

    /// Reads one split; image folders' classes are `classFolders` (the training split's).
    func read(_ split: DatasetLocator.Split, settings: ImageSettings, classFolders: [String]) throws -> StoredSplit {
        switch format {
        case .idx:
            let files = try DatasetLocator.files(split, in: path, name: name)
            let images = try IDX.read(path: files.images), labels = try IDX.read(path: files.labels)
            return try StoredSplit(idxImages: images, labels: labels, imagesPath: files.images, labelsPath: files.labels)
        case .npz:
            return try NumPyDataset.read(split, path: path)
        case .csv:
            let file = isOneSplit ? path : Self.csvFile(split, in: path)
            guard isRegularFile(file) else { throw DatasetError.missingFile(directory: path, expected: ["\(split.rawValue).csv"]) }
            return try CSVImages.read(path: file, inputShape: settings.inputShape)
        case .imageFolders:
            return try ImageFolders.read(split: "\(path)/\(split.rawValue)", classFolders: classFolders, settings: settings,
                                         emptyClassesAllowed: split == .test)
        }
    }

    /// The class folders of an image-folder dataset's training split (sorted), else none.
    func classFolders() throws -> [String] {
        format == .imageFolders ? try ImageFolders.classFolders(of: "\(path)/train") : []
    }
}

extension StoredSplit {
    /// An IDX images file (ubyte, N×H×W or N×H×W×C) and labels file (ubyte, N), checked against each other.
    init(idxImages images: IDXArray, labels: IDXArray, imagesPath: String, labelsPath: String) throws {
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
        var shape = Array(images.dimensions.dropFirst())
        if shape.count == 2 { shape.append(1) }
        self.init(images: images.payload, labels: labels.payload, imageShape: shape, imagesPath: imagesPath, labelsPath: labelsPath)
    }
}

/// Keras' `mnist.npz`: `x_<split>` uint8 images (N, H, W) or (N, H, W, C),
/// `y_<split>` integer labels (N) or (N, 1), each from 0 to 255.
enum NumPyDataset {
    /// The largest archive read (Keras' EMNIST byclass npz is about 0.6 GB).
    static let maximumFileBytes = 4 << 30

    static func read(_ split: DatasetLocator.Split, path: String) throws -> StoredSplit {
        let bytes: [UInt8]
        do {
            let file = try FileSource(path: path)
            guard file.size <= maximumFileBytes else {
                throw DatasetError.invalid(path: path, problem: "\(file.size) bytes is larger than the \(maximumFileBytes) an .npz may be")
            }
            bytes = try file.read(upTo: file.size)
        } catch let problem as FileProblem { throw DatasetError.invalid(path: path, problem: problem.description) }
        let imagesKey = "x_\(split.rawValue)", labelsKey = "y_\(split.rawValue)"
        let images = try NumPyArchive.array(imagesKey, in: bytes, path: path)
        let labels = try NumPyArchive.array(labelsKey, in: bytes, path: path)
        let (imagesPath, labelsPath) = ("\(path): \(imagesKey)", "\(path): \(labelsKey)")
        guard images.elementType == .uint8 else {
            throw DatasetError.invalid(path: imagesPath, problem: "images are \(images.elementType), expected uint8 pixels")
        }
        guard images.shape.count == 3 || images.shape.count == 4 else {
            throw DatasetError.wrongRank(path: imagesPath, expected: "images of rank 3 (N, H, W) or 4 (N, H, W, C)", found: images.shape)
        }
        guard labels.shape.count == 1 || (labels.shape.count == 2 && labels.shape[1] == 1) else {
            throw DatasetError.wrongRank(path: labelsPath, expected: "labels of shape (N) or (N, 1)", found: labels.shape)
        }
        guard images.shape[0] == labels.shape[0] else {
            throw DatasetError.countMismatch(imagesPath: imagesPath, images: images.shape[0], labelsPath: labelsPath, labels: labels.shape[0])
        }
        let values = labels.integers
        if let bad = values.firstIndex(where: { !(0 ... 255).contains($0) }) {
            throw DatasetError.invalid(path: labelsPath, problem: "label \(values[bad]) at index \(bad) is outside 0...255")
        }
        var shape = Array(images.shape.dropFirst())
        if shape.count == 2 { shape.append(1) }
        return StoredSplit(images: images.payload, labels: values.map { UInt8($0) }, imageShape: shape, imagesPath: imagesPath, labelsPath: labelsPath)
    }
}

func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}
