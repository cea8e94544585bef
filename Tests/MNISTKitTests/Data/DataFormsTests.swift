import Foundation
import MNISTKit
import TestFixtures
import XCTest

/// The forms `--data` takes besides IDX: Kaggle's CSV, folders of images per
/// class, Keras' .npz; fixtures written here by hand (text, PNG and PGM bytes
/// from the formats' specifications), expected values worked out by hand.
final class DataFormsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    @discardableResult
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    @discardableResult
    func write(_ text: String, _ name: String) throws -> String { try write(Array(text.utf8), name) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func load(_ data: String, test: String? = nil, images: ImageSettings = ImageSettings(), labels: LabelSettings = LabelSettings()) throws -> (train: Dataset, test: Dataset) {
        let (_, train, test) = try DatasetLocator(explicitPath: data, explicitTestPath: test).loadTrainAndTest(["x"], labels: labels, images: images)
        return (train, test)
    }

    // MARK: CSV

    func testCSVWithHeaderWithoutHeaderAndCRLF() throws {
        try write("label,pixel0,pixel1,pixel2,pixel3\n2,0,10,200,255\n\n0,1,2,3,4\n", "csv/train.csv")
        try write("2,9,8,7,6\r\n0,0,0,0,0\r\n", "csv/test.csv")
        let (train, test) = try load(path("csv"))
        XCTAssertEqual(train.format, .csv)
        XCTAssertEqual(train.imageShape, [2, 2, 1])
        XCTAssertEqual(train.images, [0, 10, 200, 255, 1, 2, 3, 4])
        XCTAssertEqual(train.labels, [2, 0])
        XCTAssertEqual(test.images, [9, 8, 7, 6, 0, 0, 0, 0])
        XCTAssertEqual(test.labels, [2, 0])
        XCTAssertEqual(train.classCount, 3, "the training split's largest class + 1")
        XCTAssertEqual(train.name, "csv", "named after its folder")
        // A file per split: --data train.csv --test-data test.csv; the spec's input shape shapes the rows.
        let (one, _) = try load(path("csv/train.csv"), test: path("csv/test.csv"), images: ImageSettings(inputShape: [1, 4]))
        XCTAssertEqual(one.imageShape, [1, 4, 1])
        XCTAssertEqual(one.images, train.images)
        XCTAssertEqual(message { try self.load(self.path("csv/train.csv")) },
                       "\(path("csv/train.csv")): a CSV file holds one split, and training needs a test split too: give it with --test-data FILE")
        // The same file given as both splits is taken at its word.
        XCTAssertEqual(try load(path("csv/train.csv"), test: path("csv/train.csv")).test.labels, [2, 0])
        // Evaluation: a lone CSV file is the split asked for.
        let evaluated = try DatasetLocator(explicitPath: path("csv/test.csv")).load(["x"], split: .test, labels: LabelSettings(classes: 3))
        XCTAssertEqual(evaluated.labels, [2, 0])
    }

    func testCSVErrorsNameFileLineAndColumn() throws {
        let header = "label,pixel0,pixel1,pixel2,pixel3\n"
        let cases: [(String, String)] = [
            (header + "1,0,0,0,0\n1,0,0,0\n", "line 3: has 4 columns; every row needs 5 (the label and 4 pixels), as the first has"),
            (header + "1,0,0,0,0,7\n", "line 2: has 6 columns; every row needs 5 (the label and 4 pixels), as the first has"),
            (header + "1,0,1x,0,0\n", "line 2: column 3 (pixel1): \"1x\" is not an integer from 0 to 255"),
            // A comma followed by a combining mark (a fuzzer's find): still a column boundary.
            ("l,a,b,c,\u{301}d\n1,0,0,0,0\n1,0,0,0,x\n", "line 3: column 5 (\u{301}d): \"x\" is not an integer from 0 to 255"),
            ("1,0,0,0,0\n1,0,0,256,0\n", "line 2: column 4: \"256\" is not an integer from 0 to 255"),
            ("1,0,0,0,0\n-1,0,0,0,0\n", "line 2: column 1: \"-1\" is not an integer from 0 to 255"),
            ("1,0,0,0,0\n1,0,0.5,0,0\n", "line 2: column 3: \"0.5\" is not an integer from 0 to 255"),
            ("1,0,0,,0\n", "line 1: column 4: \"\" is not an integer from 0 to 255"),
            ("pixel0,pixel1,pixel2,pixel3\n0,0,0,0\n", "line 1: the first column is pixel0, not a label: this file has no labels (Kaggle's unlabelled test.csv?)"),
            ("1,0,0\n", "rows of 2 pixels are not a square image; give the spec's input_shape as [height, width] or [height, width, channels]"),
            ("label\n", "line 1: has 1 column; expected the label, then the pixels"),
            ("label,pixel0\n\n", "holds no samples"),
        ]
        for (text, problem) in cases {
            let file = try write(text, "bad.csv")
            XCTAssertEqual(message { try DatasetLocator(explicitPath: file).load(["x"], split: .test) }, "\(file): \(problem)")
        }
        // A header claiming more columns than an image may have pixels is refused before anything is allocated.
        let wide = try write("label" + String(repeating: ",p", count: ImageLimits.maximumPixels + 1) + "\n", "wide.csv")
        XCTAssertEqual(message { try DatasetLocator(explicitPath: wide).load(["x"], split: .test) },
                       "\(wide): line 1: has \(ImageLimits.maximumPixels + 2) columns: more than the \(ImageLimits.maximumPixels) pixels an image may have")
    }

    // MARK: Image folders

    /// A 2x2 grayscale PNG or PGM of `pixels`.
    func image(_ pixels: [Int], pgm: Bool = false, width: Int = 2, height: Int = 2) -> [UInt8] {
        pgm ? PNMFixture.binary(width: width, height: height, channels: 1, samples: pixels)
            : PNGFixture.encode(width: width, height: height, colorType: .gray, samples: pixels)
    }

    func testImageFoldersNumberClassesBySortedNameAndOrderSamplesByFileName() throws {
        // Classes "b" < "c" < "x" (sorted as Python sorts), whatever order they were made in.
        try write(image([1, 1, 1, 1]), "f/train/x/002.png")
        try write(image([2, 2, 2, 2], pgm: true), "f/train/b/001.pgm")
        try write(image([3, 3, 3, 3]), "f/train/c/000.png")
        try write(image([4, 4, 4, 4]), "f/train/c/003.png")
        try write("not an image", "f/train/c/notes.txt")
        try write(image([9, 9, 9, 9]), "f/train/c/.hidden.png")
        try write(image([5, 6, 7, 8]), "f/test/c/a.png")
        try FileManager.default.createDirectory(atPath: path("f/test/b"), withIntermediateDirectories: true)
        // RGB with alpha: Rec. 601 luma over black: 0.299*200 + 0.587*100 + 0.114*50 = 124.2 -> 124, and half of it (62.1) at alpha 128/255.
        try write(PNGFixture.encode(width: 2, height: 2, colorType: .rgba, samples: [200, 100, 50, 255, 200, 100, 50, 128, 0, 0, 0, 255, 255, 255, 255, 255]),
                  "f/test/x/b.png")
        let (train, test) = try load(path("f"))
        XCTAssertEqual(train.format, .imageFolders)
        XCTAssertEqual(train.classNames, ["b", "c", "x"])
        XCTAssertEqual(train.labels, [1, 0, 2, 1], "000.png (c), 001.pgm (b), 002.png (x), 003.png (c)")
        XCTAssertEqual(train.images, [3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 4, 4, 4, 4])
        XCTAssertEqual(test.labels, [1, 2])
        XCTAssertEqual(test.images, [5, 6, 7, 8, 124, 62, 0, 255])
        XCTAssertEqual(test.classNames, ["b", "c", "x"])
    }

    func testImageFoldersResizeByAreaAndPrepareAsMNIST() throws {
        // 4x2 -> 2x1 by area averaging: each output pixel is the mean of a 2x2 block.
        try write(image([0, 10, 20, 30, 100, 110, 120, 131], width: 4, height: 2), "f/train/a/0.png")
        try write(image([0, 0, 0, 0, 0, 0, 0, 0], width: 4, height: 2), "f/train/b/1.png")
        try write(image([8, 8, 8, 8], width: 2, height: 2), "f/test/a/0.png")
        let (train, test) = try load(path("f"), images: ImageSettings(imageSize: [1, 2]))
        XCTAssertEqual(train.imageShape, [1, 2, 1])
        XCTAssertEqual(train.images, [55, 75, 0, 0], "(0+10+100+110)/4 = 55, (20+30+120+131)/4 = 75.25 -> 75")
        XCTAssertEqual(test.images, [8, 8])
    }

    func testImageFolderProblemsNameTheFile() throws {
        try write(image([1, 1, 1, 1]), "f/train/a/0.png")
        try write(image([1, 1, 1, 1]), "f/test/a/0.png")
        for k in 1 ... 200 { try write(image([k % 256, 0, 0, 0]), "f/train/b/\(String(format: "%03d", k)).png") }
        // One damaged picture among many: named, and the earliest one when several are.
        var damaged = image([1, 2, 3, 4])
        damaged[43] ^= 0xFF  // inside IDAT's data (8 signature + 25 IHDR + 8 length and type bytes)
        try write(damaged, "f/train/b/150.png")
        try write(Array(damaged.prefix(20)), "f/train/b/190.png")
        XCTAssertEqual(message { try self.load(self.path("f")) }, "\(path("f/train/b/150.png")): bad CRC in PNG chunk IDAT: the file is damaged")
        try write(image([1, 2, 3, 4]), "f/train/b/150.png")
        XCTAssertTrue(message { try self.load(self.path("f")) }.hasPrefix("\(path("f/train/b/190.png")): truncated"), message { try self.load(self.path("f")) })
        try write(image([1, 2, 3, 4, 5, 6], width: 3), "f/train/b/190.png")
        XCTAssertEqual(message { try self.load(self.path("f")) },
                       "\(path("f/train/b/190.png")): is 3x2, but \(path("f/train/a/0.png")) is 2x2; give the spec \"image_size\": [height, width] to resize every image to one size")
        try write(image([1, 2, 3, 4]), "f/train/b/190.png")
        // A picture far over the size limit is refused from its header.
        try write(PNGFixture.chunk("IHDR", PNGFixture.bigEndian(100_000) + PNGFixture.bigEndian(100_000) + [8, 0, 0, 0, 0]).reduce(into: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { $0.append($1) },
                  "f/train/b/195.png")
        XCTAssertEqual(message { try self.load(self.path("f")) },
                       "\(path("f/train/b/195.png")): image is 100000x100000, over the limit of 16384 pixels a side and 25000000 in all")
        try FileManager.default.removeItem(atPath: path("f/train/b/195.png"))
        try write([0xFF, 0xD8, 0xFF, 0xE0], "f/train/b/photo.jpg")
        XCTAssertEqual(message { try self.load(self.path("f")) }, "\(path("f/train/b/photo.jpg")): unsupported format: JPEG (convert it to PNG)")
        try FileManager.default.removeItem(atPath: path("f/train/b/photo.jpg"))
        try write(image([1, 1, 1, 1]), "f/test/zebra/0.png")
        XCTAssertEqual(message { try self.load(self.path("f")) }, "\(path("f/test/zebra")): is a class the training split does not have (its classes: a, b)")
        try FileManager.default.removeItem(atPath: path("f/test/zebra"))
        try FileManager.default.createDirectory(atPath: path("f/train/c"), withIntermediateDirectories: true)
        XCTAssertEqual(message { try self.load(self.path("f")) }, "\(path("f/train/c")): holds no images (.png, .pgm, .ppm)")
        try FileManager.default.removeItem(atPath: path("f/train/c"))
        XCTAssertEqual(message { try self.load(self.path("f"), labels: LabelSettings(labelOffset: 1)) },
                       "label_offset: \(path("f")) holds folders of images, whose classes are numbered by their folder names from 0; label_offset applies to stored labels")
        let loaded = try load(path("f")).train
        XCTAssertEqual(loaded.labelHistogram(), [1, 199], "195.png is gone")
    }

    // MARK: Detection and round trips

    func testDetectionFromWhatThePathIs() throws {
        try write("1,0\n", "plain/data.txt")
        XCTAssertEqual(try DataLocation.detect(path("plain/data.txt"))?.format, .csv, "a CSV file is known by its contents, not its name")
        XCTAssertEqual(try DataLocation.detect(path("Tests.npz")), nil)
        try write(Array(try Data(contentsOf: packageRoot.appendingPathComponent("Tests/Fuzz/corpus/numpy/stored.npz"))), "keras.bin")
        XCTAssertEqual(try DataLocation.detect(path("keras.bin"))?.format, .npz)
        XCTAssertEqual(message { try self.load(self.path("keras.bin")) }, "\(path("keras.bin")): has no array x_test (x_test.npy)")
        try write(gzip(IDX.encode(elementType: .uint8, dimensions: [1], payload: [0])), "labels.gz")
        XCTAssertEqual(message { try self.load(self.path("labels.gz")) },
                       "\(path("labels.gz")): is an IDX file (gzip or raw); give the folder that holds the four IDX files")
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
        XCTAssertEqual(message { try self.load(self.path("empty")) },
                       "\(path("empty")): missing train-images-idx3-ubyte[.gz] or train.csv or train/<class>/ folders")
    }

    /// IDX -> CSV and image folders (written here) -> IDXFolder.write -> the same IDX bytes.
    func testRoundTripsToTheSameIDXBytes() throws {
        let train = syntheticDataset(count: 60, seed: 1), test = syntheticDataset(count: 20, seed: 2)
        XCTAssertFalse(train.labelHistogram().contains(0), "every class has a folder")
        for (name, split) in [("train", train), ("test", test)] {
            var csv = "label," + (0 ..< 16).map { "pixel\($0)" }.joined(separator: ",") + "\n"
            for k in 0 ..< split.count {
                csv += "\(split.labels[k])," + split.images[k * 16 ..< (k + 1) * 16].map(String.init).joined(separator: ",") + "\n"
                try write(image(split.images[k * 16 ..< (k + 1) * 16].map(Int.init), pgm: k % 3 == 0, width: 4, height: 4),
                          "folders/\(name)/\(split.labels[k])/\(String(format: "%04d", k)).\(k % 3 == 0 ? "pgm" : "png")")
            }
            try write(csv, "csv/\(name).csv")
        }
        for form in ["csv", "folders"] {
            let (readTrain, readTest) = try load(path(form))
            try IDXFolder.write(train: readTrain, test: readTest, labelOffset: 0, to: path("\(form)-idx"))
            for (file, original) in [("train-images-idx3-ubyte.gz", IDX.encode(elementType: .uint8, dimensions: [60, 4, 4], payload: train.images)),
                                     ("train-labels-idx1-ubyte.gz", IDX.encode(elementType: .uint8, dimensions: [60], payload: train.labels)),
                                     ("t10k-images-idx3-ubyte.gz", IDX.encode(elementType: .uint8, dimensions: [20, 4, 4], payload: test.images)),
                                     ("t10k-labels-idx1-ubyte.gz", IDX.encode(elementType: .uint8, dimensions: [20], payload: test.labels))] {
                let written = try IDX.read(path: path("\(form)-idx/\(file)"))
                XCTAssertEqual(IDX.encode(elementType: written.elementType, dimensions: written.dimensions, payload: written.payload), original, "\(form): \(file)")
            }
            let back = try load(path("\(form)-idx"))
            XCTAssertEqual(back.train.testSHA256, readTrain.testSHA256, "the content hash does not depend on the form")
        }
    }
}
