import MNISTKit
import TestFixtures
import XCTest

/// A synthetic digit drawn in each form people save pictures in prepares to the
/// 28x28 field worked out by hand.
final class PreprocessingTests: XCTestCase {
    static let (digitHeight, digitWidth) = (SyntheticDigit.height, SyntheticDigit.width)
    static let digit = SyntheticDigit.ring
    static let expected = SyntheticDigit.preparedField

    /// The digit's ink levels scaled up `factor` times and put at (left, top) on a page of `paper`.
    func page(width: Int, height: Int, left: Int, top: Int, factor: Int = 1, ink: (Int) -> Int, paper: Int) -> [Int] {
        var pixels = [Int](repeating: paper, count: width * height)
        for y in 0 ..< Self.digitHeight * factor {
            for x in 0 ..< Self.digitWidth * factor {
                pixels[(top + y) * width + left + x] = ink(Self.digit[(y / factor) * Self.digitWidth + x / factor])
            }
        }
        return pixels
    }

    func prepared(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        try ImagePreprocessing.mnistStyle(RGBAImage.decode(bytes))
    }

    func assertField(_ field: [Float], _ what: String, expected: [Float] = PreprocessingTests.expected,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(field.count, 28 * 28, file: file, line: line)
        let worst = zip(field, expected).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(worst, 1e-3, "\(what): largest difference \(worst)", file: file, line: line)
    }

    func testBlackInkOnWhitePaperOffCentreIsInvertedCroppedAndCentred() throws {
        let pixels = page(width: 50, height: 40, left: 31, top: 3, ink: { 255 - $0 }, paper: 255)
        assertField(try prepared(PNGFixture.encode(width: 50, height: 40, colorType: .gray, samples: pixels)), "inverted grey page")
    }

    func testUpscaledRGBOnALargerPageScalesBackDown() throws {
        // Three times the size (a 60x36 box): area averaging of 3x3 blocks gives the digit back exactly.
        let gray = page(width: 100, height: 90, left: 7, top: 25, factor: 3, ink: { 255 - $0 }, paper: 255)
        let rgb = gray.flatMap { [$0, $0, $0] }
        assertField(try prepared(PNGFixture.encode(width: 100, height: 90, colorType: .rgb, samples: rgb)), "upscaled RGB")
        let ppm = PNMFixture.binary(width: 100, height: 90, channels: 3, samples: rgb)
        assertField(try prepared(ppm), "upscaled PPM")
    }

    func testTransparentBackgroundIsCompositedOntoContrastingPaper() throws {
        // Black strokes whose alpha is the ink: composited onto white paper, then inverted.
        let alpha = page(width: 28, height: 28, left: 2, top: 1, ink: { $0 }, paper: 0)
        let dark = alpha.flatMap { [0, 0, 0, $0] }
        assertField(try prepared(PNGFixture.encode(width: 28, height: 28, colorType: .rgba, samples: dark)), "black on transparent")
        // White strokes on transparent: composited onto black, as they are.
        let light = alpha.flatMap { [255, $0] }
        assertField(try prepared(PNGFixture.encode(width: 28, height: 28, colorType: .grayAlpha, samples: light, interlaced: true)),
                    "white on transparent")
    }

    func testSixteenBitPaletteAndNetpbmForms() throws {
        let inverted = page(width: 30, height: 30, left: 9, top: 5, ink: { 255 - $0 }, paper: 255)
        assertField(try prepared(PNGFixture.encode(width: 30, height: 30, colorType: .gray, bitDepth: 16,
                                                   samples: inverted.map { $0 * 257 }, interlaced: true)), "16-bit interlaced")
        // Palette: white paper (0), mid grey (1) and black (2) ink.
        let indices = page(width: 30, height: 30, left: 0, top: 10, ink: { $0 == 0 ? 0 : ($0 == 128 ? 1 : 2) }, paper: 0)
        let palette = PNGFixture.encode(width: 30, height: 30, colorType: .palette, samples: indices,
                                        palette: [(255, 255, 255), (127, 127, 127), (0, 0, 0)])
        assertField(try prepared(palette), "palette")
        assertField(try prepared(PNMFixture.ascii(width: 30, height: 30, channels: 1, samples: inverted)), "ASCII PGM")
        let light = page(width: 30, height: 30, left: 9, top: 5, ink: { $0 }, paper: 0)
        assertField(try prepared(PNMFixture.binary(width: 30, height: 30, channels: 1, maxValue: 65535, samples: light.map { $0 * 257 })),
                    "16-bit PGM, light ink")
    }

    /// An L: a 20x2 bar down the left and an 8x2 foot along the bottom of a 20x10 box. By hand, in
    /// pixel indices: x = (40 * 0.5 + 16 * 5.5) / 56 = 1.93, y = (40 * 9.5 + 16 * 18.5) / 56 = 12.07,
    /// so the shift to (14, 14) is (round(14 - 1.93), round(14 - 12.07)) = (12, 2).
    func testCentreOfMassPlacesAnAsymmetricShape() throws {
        var box = [Int](repeating: 0, count: 200)
        for y in 0 ..< 20 { box[y * 10] = 255; box[y * 10 + 1] = 255 }
        for y in 18 ..< 20 { for x in 2 ..< 10 { box[y * 10 + x] = 255 } }
        var pagePixels = [Int](repeating: 255, count: 60 * 60)
        for y in 0 ..< 20 { for x in 0 ..< 10 { pagePixels[(y + 33) * 60 + x + 5] = 255 - box[y * 10 + x] } }
        var expected = [Float](repeating: 0, count: 28 * 28)
        for y in 0 ..< 20 { for x in 0 ..< 10 { expected[(y + 2) * 28 + x + 12] = Float(box[y * 10 + x]) / 255 } }
        assertField(try prepared(PNGFixture.encode(width: 60, height: 60, colorType: .gray, samples: pagePixels)), "L shape", expected: expected)
    }

    /// Grey, grainy paper (levels 215...240) under the ink: the grain is cleared and the ring lands
    /// where it does on clean paper; its soft edge comes out a little darker, as the paper level
    /// is subtracted from it.
    func testGrainyPaperIsClearedAroundTheInk() throws {
        var generator = RandomGenerator(seed: 7)
        var pixels = page(width: 70, height: 50, left: 40, top: 12, ink: { $0 == 0 ? -1 : 255 - $0 }, paper: -1)
        for i in pixels.indices where pixels[i] == -1 { pixels[i] = 215 + generator.nextIndex(below: 26) }
        let field = try prepared(PNGFixture.encode(width: 70, height: 50, colorType: .gray, samples: pixels))
        for (found, wanted) in zip(field, Self.expected) {
            XCTAssertEqual(found, wanted, accuracy: wanted == 0 || wanted == 1 ? 1e-3 : 0.06)
        }
    }

    func testDownscalingAveragesAreas() {
        // 3 -> 2 across: the middle input pixel is split half and half.
        let out = ImagePreprocessing.resampleByArea([30, 60, 90], width: 3, height: 1, toWidth: 2, toHeight: 1)
        XCTAssertEqual(out[0], (30 + 60 * 0.5) / 1.5, accuracy: 1e-4)
        XCTAssertEqual(out[1], (60 * 0.5 + 90) / 1.5, accuracy: 1e-4)
    }

    func testAsIsChecksTheSizeAndKeepsThePixels() throws {
        let pixels = (0 ..< 28 * 28).map { $0 % 256 }
        let image = try RGBAImage.decode(PNGFixture.encode(width: 28, height: 28, colorType: .gray, samples: pixels))
        assertField(try ImagePreprocessing.asIs(image), "as is", expected: pixels.map { Float($0) / 255 })
        let small = try RGBAImage.decode(PNGFixture.encode(width: 20, height: 28, colorType: .gray, samples: Array(pixels.prefix(560))))
        XCTAssertThrowsError(try ImagePreprocessing.asIs(small)) {
            XCTAssertEqual("\($0)", "image is 20x28, the model takes 28x28 (MNIST-style preparation would scale and centre it)")
        }
    }

    func testABlankPageIsAnError() throws {
        let blank = try RGBAImage.decode(PNGFixture.encode(width: 40, height: 40, colorType: .gray, samples: [Int](repeating: 250, count: 1600)))
        XCTAssertThrowsError(try ImagePreprocessing.mnistStyle(blank)) { XCTAssertEqual($0 as? ImageError.Problem, .blank) }
    }
}
