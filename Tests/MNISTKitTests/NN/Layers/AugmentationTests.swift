import MNISTKit
import TestFixtures
import XCTest

/// The augmentation layers' transforms on synthetic images against the pixels
/// worked out by hand (a factor range of one value makes the transform known),
/// and inference untouched by them.
final class AugmentationTests: XCTestCase {
    /// The augmentation layer's training output for one (H, W) image: the layer,
    /// a flatten, and an identity dense layer that copies it out.
    func augment(_ layer: String, _ image: [Float], height: Int, width: Int) throws -> [Float] {
        let n = height * width
        var spec = ModelSpec(layers: [try LayerSpec.parse(layer), .flatten, .dense(units: n)], loss: .meanSquaredError)
        spec.inputShape = [height, width]
        let model = try Model(spec: spec, classCount: n)
        model.parameters.assign((0 ..< n * n).map { $0 / n == $0 % n ? 1 : 0 } + [Float](repeating: 0, count: n))
        var random = RandomGenerator(seed: 1)
        let trained = model.predict(image, training: true, random: &random)
        // Outside training the layer passes the image through.
        XCTAssertEqual(model.predict(image), image)
        return trained
    }

    /// `Model.trainStep(_:B:optimizer:dropout:)` draws the augmentation from
    /// the caller's generator: two consecutive steps on the same batch, with a
    /// learning rate of 0 so the weights stay, see two different translations
    /// (a fresh seed-0 stream per call would give the same loss twice).
    func testConsecutiveTrainStepsDrawDifferentAugmentations() throws {
        var spec = ModelSpec(layers: [try LayerSpec.parse(#"{"type": "random_translation", "height_factor": 0.3, "width_factor": 0.3}"#),
                                      .flatten, .dense(units: 3, activation: .softmax)], loss: .sparseCategoricalCrossentropy)
        spec.inputShape = [6, 6]
        let model = try Model(spec: spec, classCount: 3)
        var initialization = RandomGenerator(seed: 2)
        model.initializeParameters(generator: &initialization)
        let workspace = model.makeWorkspace(capacity: 4, training: true)
        model.load(workspace, inputs: (0 ..< 4 * 36).map { Float($0 % 7) / 7 }, labels: [0, 1, 2, 0])
        let optimizer = Optimizer(spec: .sgd(learningRate: 0, momentum: 0, nesterov: false), parameterCount: model.parameterCount)
        var random = RandomGenerator(seed: 5)
        let first = model.trainStep(workspace, B: 4, optimizer: optimizer, dropout: &random)
        model.load(workspace, inputs: (0 ..< 4 * 36).map { Float($0 % 7) / 7 }, labels: [0, 1, 2, 0])
        let second = model.trainStep(workspace, B: 4, optimizer: optimizer, dropout: &random)
        XCTAssertNotEqual(first.lossSum, second.lossSum)
        // The same generator state gives the same draw: the difference is the stream's, not noise.
        var again = RandomGenerator(seed: 5)
        model.load(workspace, inputs: (0 ..< 4 * 36).map { Float($0 % 7) / 7 }, labels: [0, 1, 2, 0])
        XCTAssertEqual(model.trainStep(workspace, B: 4, optimizer: optimizer, dropout: &again).lossSum, first.lossSum)
    }

    /// A W-wide image whose pixel (row, column) is 1 + row·10 + column.
    func numbered(_ height: Int, _ width: Int) -> [Float] {
        (0 ..< height * width).map { Float(1 + ($0 / width) * 10 + $0 % width) }
    }

    func testTranslationShiftsByTheFactorTimesTheSize() throws {
        let image = numbered(8, 8)
        // height 0.25·8 = 2 rows down, width -0.125·8 = 1 column left; constant fill 0.
        let out = try augment(#"{"type": "random_translation", "height_factor": [0.25, 0.25], "width_factor": [-0.125, -0.125], "fill_mode": "constant"}"#,
                              image, height: 8, width: 8)
        for y in 0 ..< 8 { for x in 0 ..< 8 {
            let (sy, sx) = (y - 2, x + 1)
            let expected: Float = (0 ..< 8).contains(sy) && (0 ..< 8).contains(sx) ? image[sy * 8 + sx] : 0
            XCTAssertEqual(out[y * 8 + x], expected, "(\(y), \(x))")
        } }
    }

    func testFillModes() throws {
        let row: [Float] = [1, 2, 3, 4, 5]
        // Two columns right: the two new columns read points -2 and -1.
        let expected: [String: [Float]] = ["constant": [7, 7], "reflect": [2, 1], "wrap": [4, 5], "nearest": [1, 1]]
        for (mode, left) in expected {
            let out = try augment(#"{"type": "random_translation", "height_factor": 0, "width_factor": [0.4, 0.4], "fill_mode": "\#(mode)", "fill_value": 7}"#,
                                  row, height: 1, width: 5)
            XCTAssertEqual(out, left + [1, 2, 3], mode)
        }
    }

    func testRotationByAQuarterTurnIsCounterClockwise() throws {
        let image = numbered(5, 5)
        let out = try augment(#"{"type": "random_rotation", "factor": [0.25, 0.25]}"#, image, height: 5, width: 5)
        // A quarter turn counter-clockwise: the top row becomes the left column, read upwards.
        for y in 0 ..< 5 { for x in 0 ..< 5 {
            XCTAssertEqual(out[y * 5 + x], image[x * 5 + (4 - y)], accuracy: 1e-4, "(\(y), \(x))")
        } }
    }

    func testZoomAboutTheCentreWithBilinearInterpolation() throws {
        let image = numbered(5, 5)
        // Zoom in 2x (factor -0.5) vertically, out 2x (factor 1) horizontally, constant fill.
        let out = try augment(#"{"type": "random_zoom", "height_factor": [-0.5, -0.5], "width_factor": [1, 1], "fill_mode": "constant"}"#,
                              image, height: 5, width: 5)
        for y in 0 ..< 5 { for x in 0 ..< 5 {
            // Input row 2 + 0.5(y - 2) (between rows: linear in the row), column 2 + 2(x - 2).
            let sy = 2 + 0.5 * Float(y - 2), sx = 2 + 2 * (x - 2)
            let expected: Float = (0 ..< 5).contains(sx) ? 1 + sy * 10 + Float(sx) : 0
            XCTAssertEqual(out[y * 5 + x], expected, accuracy: 1e-4, "(\(y), \(x))")
        } }
    }

    func testFlipMirrorsExactlyAboutHalfTheTime() throws {
        let image = numbered(3, 4)
        let mirrored: [Float] = (0 ..< 12).map { (k: Int) -> Float in image[(k / 4) * 4 + 3 - k % 4] }
        var seen = Set<[Float]>()
        var spec = ModelSpec(layers: [try LayerSpec.parse(#"{"type": "random_flip", "mode": "horizontal"}"#), .flatten, .dense(units: 12)],
                             loss: .meanSquaredError)
        spec.inputShape = [3, 4]
        let model = try Model(spec: spec, classCount: 12)
        let identity: [Float] = (0 ..< 144).map { (k: Int) -> Float in k / 12 == k % 12 ? 1 : 0 }
        model.parameters.assign(identity + [Float](repeating: 0, count: 12))
        var random = RandomGenerator(seed: 5)
        var flips = 0
        for _ in 0 ..< 200 {
            let out = model.predict(image, training: true, random: &random)
            seen.insert(out)
            if out == mirrored { flips += 1 }
        }
        // Only the image and its mirror, to the bit; each about half the time.
        XCTAssertEqual(seen, [image, mirrored])
        XCTAssertTrue((70 ... 130).contains(flips), "\(flips) flips in 200")
        XCTAssertEqual(try LayerSpec.parse(#"{"type": "random_flip"}"#).json["mode"], .string("horizontal_and_vertical"))
    }

    func testInferenceIgnoresAugmentation() throws {
        let data = syntheticDataset(count: 120, seed: 9)
        var plain = syntheticSpec(epochs: 1)
        plain.layers.removeFirst()
        plain.layers.insert(.flatten, at: 0)
        var augmented = plain
        augmented.layers.insert(contentsOf: try [
            #"{"type": "random_translation", "height_factor": 0.2, "width_factor": 0.2}"#,
            #"{"type": "random_rotation", "factor": 0.1}"#, #"{"type": "random_zoom", "height_factor": 0.2}"#,
        ].map(LayerSpec.parse), at: 0)
        let trainer = try Trainer(spec: augmented, train: data)
        _ = try trainer.runEpoch()
        let copy = try Model(spec: plain)
        copy.parameters.assign(trainer.model.parameters.array)
        var withAugmentation = [Int32](repeating: 0, count: data.count), without = withAugmentation
        XCTAssertEqual(trainer.model.evaluate(data, predictions: &withAugmentation), copy.evaluate(data, predictions: &without))
        XCTAssertEqual(withAugmentation, without)
    }

    func testAugmentationGoesFirst() {
        var spec = syntheticSpec()
        spec.layers.insert(try! LayerSpec.parse(#"{"type": "random_rotation", "factor": 0.1}"#), at: 1)
        XCTAssertThrowsError(try Model(spec: spec)) {
            XCTAssertEqual("\($0)", "layers[1]: random_rotation transforms the input images, so it goes at the front of the model, before any other layer")
        }
        XCTAssertThrowsError(try LayerSpec.parse(#"{"type": "random_translation", "height_factor": 1.5, "width_factor": 0}"#)) {
            XCTAssertEqual("\($0)", "layer.height_factor: expected a number, or a [lower, upper] pair, within -1.0...1.0 with lower <= upper, got 1.5")
        }
    }

    /// A factor of [1, 1] erases every image; a scale of [0.25, 0.25] makes the rectangle
    /// √0.25 of each side: 14 of 28 rows and columns hold the fill, in one block.
    func testRandomErasingErasesAKnownRectangle() throws {
        let image = [Float](repeating: 1, count: 28 * 28)
        let out = try augment(#"{"type": "random_erasing", "factor": [1, 1], "scale": [0.25, 0.25], "fill_value": 0.5, "value_range": [0, 1]}"#,
                              image, height: 28, width: 28)
        let erased = out.indices.filter { abs(out[$0] - 0.5) < 1e-6 }
        XCTAssertEqual(erased.count, 14 * 14)
        XCTAssertEqual(out.filter { $0 != 0.5 && abs($0 - 1) > 1e-6 }.count, 0)
        let rows = Set(erased.map { $0 / 28 }), columns = Set(erased.map { $0 % 28 })
        XCTAssertEqual(rows.count, 14)
        XCTAssertEqual(columns.count, 14)
        XCTAssertEqual(rows.max()! - rows.min()!, 13)
        XCTAssertEqual(columns.max()! - columns.min()!, 13)
        // A factor of 0 erases nothing; noise (no fill_value) stays inside value_range.
        XCTAssertEqual(try augment(#"{"type": "random_erasing", "factor": 0}"#, image, height: 28, width: 28), image)
        let noisy = try augment(#"{"type": "random_erasing", "factor": [1, 1], "scale": [0.5, 0.5], "value_range": [0, 1]}"#,
                                image, height: 28, width: 28)
        XCTAssertTrue(noisy.allSatisfy { (0 ... 1).contains($0) })
        XCTAssertGreaterThan(noisy.filter { $0 < 1 }.count, 100)
        XCTAssertThrowsError(try LayerSpec.parse(#"{"type": "random_erasing", "scale": [0.1, 2]}"#)) {
            XCTAssertEqual("\($0)", "layer.scale: expected a number from 0 to 1, or a [lower, upper] pair within 0...1, got an array")
        }
    }
}
