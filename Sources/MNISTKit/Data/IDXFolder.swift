/// Writes a dataset as MNIST's four gzip IDX files and a `class_names.txt`:
/// the form every other is converted to, and the fastest to load.
public enum IDXFolder {
    /// The files written, in order.
    public static func fileNames(imageShape: [Int]) -> [String] {
        let rank = imageShape.last == 1 ? 3 : 4
        return ["train-images-idx\(rank)-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx\(rank)-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                "class_names.txt"]
    }

    /// Writes `train` and `test` into `folder` (made if missing): images (N, H, W)
    /// when they have one channel, else (N, H, W, C); labels as the source
    /// stored them (each class + `labelOffset`); the training split's class names.
    /// Each file is written whole or not at all.
    public static func write(train: Dataset, test: Dataset, labelOffset: Int, to folder: String) throws(CheckpointError) {
        if let problem = makeFolders(folder) { throw CheckpointError(path: folder, message: "cannot make the folder: \(problem)", kind: .cannotWrite) }
        let names = fileNames(imageShape: train.imageShape)
        var files: [[UInt8]] = []
        for split in [train, test] {
            let shape = [split.count] + (split.imageShape.last == 1 ? Array(split.imageShape.dropLast()) : split.imageShape)
            files.append(deflated(IDX.encode(elementType: .uint8, dimensions: shape, payload: split.images), gzip: true))
            let labels = split.labels.map { $0 &+ UInt8(truncatingIfNeeded: labelOffset) }
            files.append(deflated(IDX.encode(elementType: .uint8, dimensions: [split.count], payload: labels), gzip: true))
        }
        files.append(Array(train.classNames.map { $0 + "\n" }.joined().utf8))
        for (name, bytes) in zip(names, files) { try writeAtomically(bytes, to: "\(folder)/\(name)", what: name) }
    }
}
