import Foundation
import Synchronization

/// torchvision's `ImageFolder` layout: a split's folder holds one folder per
/// class, the classes numbered in the sorted order of their names, each
/// holding that class's pictures (PNG, PGM, PPM). Samples are in the order of
/// their file names (then classes), so numbered files (`00042.png`) read back
/// in the order they were written. Pictures decode on every core.
enum ImageFolders {
    /// The file name extensions read, lower-cased.
    static let extensions: Set<String> = ["png", "pgm", "ppm", "pnm"]
    /// Picture formats refused by name rather than skipped.
    static let refused = ["jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF", "bmp": "BMP", "webp": "WebP", "tif": "TIFF", "tiff": "TIFF"]

    /// A folder's entries that are not hidden, in the byte order of their UTF-8
    /// names (Python's `sorted`, which `ImageFolder` uses).
    static func entries(of folder: String) throws -> [String] {
        // opendir first, for the system's reason when the folder cannot be read.
        guard let handle = opendir(folder) else { throw DatasetError.invalid(path: folder, problem: "cannot be listed: \(String(cString: strerror(errno)))") }
        closedir(handle)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The class folders of a split's folder, sorted.
    static func classFolders(of split: String) throws -> [String] {
        let classes = try entries(of: split).filter { isDirectory("\(split)/\($0)") }
        guard !classes.isEmpty else { throw DatasetError.invalid(path: split, problem: "holds no class folders; expected \(split)/<class>/<image>.png") }
        guard classes.count <= 256 else { throw DatasetError.invalid(path: split, problem: "holds \(classes.count) class folders; at most 256 classes are supported") }
        return classes
    }

    /// Reads the split folder `split`, numbering its classes by `classFolders`
    /// (the training split's); a test split's class folder may be empty.
    static func read(split: String, classFolders: [String], settings: ImageSettings, emptyClassesAllowed: Bool) throws -> StoredSplit {
        guard isDirectory(split) else { throw DatasetError.missingFile(directory: (split as NSString).deletingLastPathComponent, expected: [(split as NSString).lastPathComponent + "/"]) }
        var samples: [(name: [UInt8], label: Int, path: String)] = []
        for folder in try Self.classFolders(of: split) {
            guard let label = classFolders.firstIndex(of: folder) else {
                throw DatasetError.invalid(path: "\(split)/\(folder)", problem: "is a class the training split does not have (its classes: \(classFolders.joined(separator: ", ")))")
            }
            var found = 0
            for file in try entries(of: "\(split)/\(folder)") {
                let path = "\(split)/\(folder)/\(file)", suffix = (file as NSString).pathExtension.lowercased()
                if let format = refused[suffix] { throw ImageError(path: path, problem: .unsupported("\(format) (convert it to PNG)")) }
                guard extensions.contains(suffix), isRegularFile(path) else { continue }
                samples.append((Array(file.utf8), label, path))
                found += 1
            }
            if found == 0, !emptyClassesAllowed {
                throw DatasetError.invalid(path: "\(split)/\(folder)", problem: "holds no images (.png, .pgm, .ppm)")
            }
        }
        guard !samples.isEmpty else { throw DatasetError.empty(path: split) }
        samples.sort { $0.name == $1.name ? $0.label < $1.label : $0.name.lexicographicallyPrecedes($1.name) }

        // The size every sample takes: the spec's, MNIST's field, or the first picture's.
        let size: (height: Int, width: Int)
        if let imageSize = settings.imageSize {
            size = (imageSize[0], imageSize[1])
        } else if settings.prepare == .mnist {
            size = (28, 28)
        } else {
            let first = try RGBAImage.read(path: samples[0].path)
            size = (first.height, first.width)
        }
        let sampleSize = size.height * size.width
        var images = [UInt8](repeating: 0, count: samples.count * sampleSize)
        // Any failing picture stops the rest after it; the earliest one is reported.
        let firstFailure = Mutex<(index: Int, error: Error)?>(nil)
        let failingIndex = Atomic<Int>(Int.max), next = Atomic<Int>(0)
        let paths = samples.map(\.path), firstPath = samples[0].path
        images.withUnsafeMutableBufferPointer { images in
            nonisolated(unsafe) let pixels = images.baseAddress!
            let chunk = 64
            DispatchQueue.concurrentPerform(iterations: ProcessInfo.processInfo.activeProcessorCount) { _ in
                while true {
                    let start = next.add(chunk, ordering: .relaxed).oldValue
                    guard start < paths.count else { return }
                    for index in start ..< min(start + chunk, paths.count) where index < failingIndex.load(ordering: .relaxed) {
                        do {
                            let image = try RGBAImage.read(path: paths[index])
                            try samplePixels(image, size: size, settings: settings, path: paths[index], firstPath: firstPath,
                                             into: pixels + index * sampleSize)
                        } catch {
                            firstFailure.withLock { failure in
                                if index < failure?.index ?? Int.max { failure = (index, error) }
                            }
                            _ = failingIndex.min(index, ordering: .relaxed)
                        }
                    }
                }
            }
        }
        if let failure = firstFailure.withLock({ $0 }) { throw failure.error }
        return StoredSplit(images: images, labels: samples.map { UInt8($0.label) }, imageShape: [size.height, size.width, 1],
                           imagesPath: split, labelsPath: split)
    }

    /// Writes one picture as `size.height × size.width` grayscale bytes.
    static func samplePixels(_ image: RGBAImage, size: (height: Int, width: Int), settings: ImageSettings, path: String, firstPath: String,
                             into destination: UnsafeMutablePointer<UInt8>) throws {
        func store(_ values: [Float], scale: Float) {
            for k in values.indices { destination[k] = UInt8(max(0, min(255, (values[k] * scale).rounded()))) }
        }
        if settings.prepare == .mnist {
            do { store(try ImagePreprocessing.mnistStyle(image, width: size.width, height: size.height), scale: 255) } catch {
                throw ImageError(path: path, problem: error)
            }
            return
        }
        let gray = ImagePreprocessing.luminance(image, paper: 0)
        if image.width == size.width, image.height == size.height { return store(gray, scale: 1) }
        guard settings.imageSize != nil else {
            throw DatasetError.invalid(path: path, problem: "is \(image.width)x\(image.height), but \(firstPath) is \(size.width)x\(size.height); give the spec \"image_size\": [height, width] to resize every image to one size")
        }
        store(ImagePreprocessing.resampleByArea(gray, width: image.width, height: image.height, toWidth: size.width, toHeight: size.height), scale: 1)
    }
}
