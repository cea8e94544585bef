import Foundation
import MNISTKit
import TestFixtures
import XCTest

final class DatasetTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func write(_ bytes: [UInt8], _ name: String, in folder: URL? = nil) throws -> String {
        let url = (folder ?? directory).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    func images(_ count: Int, height: Int = 2, width: Int = 2) -> [UInt8] {
        IDX.encode(elementType: .uint8, dimensions: [count, height, width],
                   payload: (0 ..< count * height * width).map { UInt8($0 % 256) })
    }

    func labels(_ values: [UInt8]) -> [UInt8] { IDX.encode(elementType: .uint8, dimensions: [values.count], payload: values) }

    func testLoadsPairAndGathersScaledBatch() throws {
        let dataset = try Dataset.load(imagesPath: try write(gzip(images(3)), "i.gz"), labelsPath: try write(labels([2, 0, 9]), "l"))
        XCTAssertEqual(dataset.count, 3)
        XCTAssertEqual(dataset.imageShape, [2, 2, 1])
        XCTAssertEqual(dataset.labelHistogram(), [1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
        var batch = [Float](repeating: -1, count: 8)
        var batchLabels = [Int32](repeating: -1, count: 2)
        let order: [Int32] = [2, 0]
        order.withUnsafeBufferPointer { dataset.gather($0, into: &batch, labels: &batchLabels) }
        assertClose(batch, [8, 9, 10, 11, 0, 1, 2, 3].map { Float($0) / 255 }, tolerance: 1e-7)
        XCTAssertEqual(batchLabels, [9, 2])
    }

    /// Rows of 21 pixels: one 16-wide vector step and a scalar tail of 5, every byte value.
    func testGatherConvertsEveryByteInVectorAndTail() {
        let size = 21, count = 13
        let pixels = (0 ..< count * size).map { UInt8(($0 * 37 + 11) % 256) }
        let dataset = Dataset(images: pixels, labels: (0 ..< count).map { UInt8($0 % 10) }, imageShape: [3, 7, 1], classCount: 10)
        let order: [Int32] = [12, 0, 5, 7, 1, 11, 2, 3, 4, 6, 8, 9, 10]
        var batch = [Float](repeating: -1, count: count * size)
        var batchLabels = [Int32](repeating: -1, count: count)
        order.withUnsafeBufferPointer { dataset.gather($0, into: &batch, labels: &batchLabels) }
        let expected = order.flatMap { index in (0 ..< size).map { Float(pixels[Int(index) * size + $0]) / 255 } }
        assertClose(batch, expected, tolerance: 1e-7)
        XCTAssertEqual(Set(pixels).count, 256)
        XCTAssertEqual(batchLabels, order.map { $0 % 10 })
    }

    func testRejectsMismatchedPairs() throws {
        let imagesPath = try write(images(3), "images")
        let cases: [([UInt8], String)] = [
            (labels([1, 2]), "2 labels for 3 images"),
            (labels([1, 2, 10]), "label 10 at index 2 is outside 0..<10"),
            (IDX.encode(elementType: .int32, dimensions: [3], payload: [UInt8](repeating: 0, count: 12)), "expected ubyte (0x08) label elements, found int32"),
            (IDX.encode(elementType: .uint8, dimensions: [3, 1], payload: [0, 0, 0]), "expected labels of rank 1 (N), found dimensions (3, 1)"),
        ]
        for (labelBytes, message) in cases {
            XCTAssertThrowsError(try Dataset.load(imagesPath: imagesPath, labelsPath: try write(labelBytes, "labels"))) {
                XCTAssertTrue("\($0)".contains(message), "\($0) lacks \(message)")
            }
        }
        // Images and labels swapped: the labels file is rank 1, not an image stack.
        XCTAssertThrowsError(try Dataset.load(imagesPath: try write(labels([1, 2, 3]), "l2"), labelsPath: imagesPath)) {
            XCTAssertTrue("\($0)".contains("expected images of rank 3 (N, H, W) or 4 (N, H, W, C), found dimensions (3,)"), "\($0)")
        }
    }

    func testLocatorOrderAndBothSpellings() throws {
        let env = directory.appendingPathComponent("env"), work = directory.appendingPathComponent("work")
        let system = directory.appendingPathComponent("system")
        _ = try write(images(1), "toy/train-images.idx3-ubyte", in: system)
        var locator = DatasetLocator(environmentDirectory: env.path, workingDirectory: work.path, systemDirectory: system.path)
        XCTAssertEqual(try locator.location(for: "toy").path, system.path + "/toy")
        _ = try write(gzip(images(1)), "toy/train-images-idx3-ubyte.gz", in: work.appendingPathComponent("data"))
        XCTAssertEqual(try locator.location(for: "toy").path, work.path + "/data/toy")
        _ = try write(images(1), "toy/train-images-idx3-ubyte", in: env)
        XCTAssertEqual(try locator.location(for: "toy").path, env.path + "/toy")
        locator = DatasetLocator(explicitPath: directory.appendingPathComponent("nowhere").path,
                                 environmentDirectory: env.path, workingDirectory: work.path, systemDirectory: system.path)
        XCTAssertThrowsError(try locator.location(for: "toy").path)
        let missing = DatasetLocator(environmentDirectory: env.path, workingDirectory: work.path, systemDirectory: system.path)
        XCTAssertThrowsError(try missing.location(for: "absent")) {
            XCTAssertEqual("\($0)", "dataset \"absent\" not found; looked in: \(env.path)/absent, \(work.path)/data/absent, \(system.path)/absent")
        }
        XCTAssertThrowsError(try DatasetLocator.files(.test, in: env.path + "/toy")) {
            XCTAssertEqual("\($0)", "\(env.path)/toy: missing t10k-images-idx3-ubyte[.gz]")
        }
    }

    func testDecodesFashionMNISTWhenInstalled() throws {
        let path = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) is absent; `make setup` installs Debian's dataset-fashion-mnist")
        }
        let locator = DatasetLocator(explicitPath: path)
        let train = try locator.load(["fashion-mnist"], split: .train)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(train.imageShape, [28, 28, 1])
        XCTAssertEqual(train.images.count, 60_000 * 784)
        XCTAssertEqual(train.labelHistogram(), [Int](repeating: 6000, count: 10))
        let test = try locator.load(["fashion-mnist"], split: .test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.labelHistogram(), [Int](repeating: 1000, count: 10))
    }

    func testDecodesMNISTDigitsWhenPresent() throws {
        let path = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent") }
        let train = try DatasetLocator(explicitPath: path).load(["mnist"], split: .train)
        XCTAssertEqual(train.count, 60_000)
        XCTAssertEqual(Array(train.labels.prefix(10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        let test = try DatasetLocator(explicitPath: path).load(["mnist"], split: .test)
        XCTAssertEqual(test.count, 10_000)
    }

    /// What the data is comes from its files: MNIST's digits in a folder of
    /// any name, looked up under fashion-mnist's name, are MNIST; a folder
    /// named fashion-mnist holding other images is its own dataset.
    func testKnownDatasetsAreRecognisedByContent() throws {
        let mnist = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/mnist")
        guard FileManager.default.fileExists(atPath: mnist.path) else { throw XCTSkip("\(mnist.path) is absent") }
        let root = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let digits = root.appendingPathComponent("my-digits")
        try FileManager.default.createDirectory(at: digits, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: mnist.path) where file.hasSuffix(".gz") {
            try FileManager.default.createSymbolicLink(at: digits.appendingPathComponent(file), withDestinationURL: mnist.appendingPathComponent(file))
        }
        let (_, train, test) = try DatasetLocator(explicitPath: digits.path).loadTrainAndTest(["fashion-mnist"])
        XCTAssertEqual(train.name, "mnist")
        XCTAssertEqual(train.folder, "my-digits")
        XCTAssertEqual(train.classNames, (0 ... 9).map(String.init))
        // The digest is of the test split's images and labels as stored (computed here with hashlib).
        XCTAssertEqual(test.testSHA256, "c3f9adf9c66efb572b1f9326c3a511b45910c7173b97be66ceceeeeaef6b802b")

        let impostor = root.appendingPathComponent("fashion-mnist")
        try FileManager.default.createDirectory(at: impostor, withIntermediateDirectories: true)
        for split in ["train", "t10k"] {
            try Data(IDX.encode(elementType: .uint8, dimensions: [3, 2, 2], payload: Array(0 ..< 12))).write(to: impostor.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(IDX.encode(elementType: .uint8, dimensions: [3], payload: [0, 1, 2])).write(to: impostor.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        let other = try DatasetLocator(explicitPath: impostor.path).loadTrainAndTest(["fashion-mnist"]).train
        XCTAssertEqual(other.name, "fashion-mnist")
        XCTAssertEqual(other.classNames, ["0", "1", "2"])
    }
}
