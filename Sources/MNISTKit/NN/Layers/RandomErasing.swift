// keras.layers.RandomErasing (Keras 3): erases one random rectangle of each
// training image, as Keras draws it. Per image: a probability p uniform in
// `factor` (a number f means (0, f), so factor 1 erases half the images) and
// an erasure when a uniform draw falls below p; the rectangle's width and
// height are √s·W and √s·H for scales s drawn uniformly from `scale`, placed
// uniformly; pixels whose coordinates fall in [start, start + length) are
// replaced by `fill_value`, or when it is null by normal noise times the top
// of `value_range`, clipped to `value_range` (Keras' default range is
// (0, 255); our pixels are in [0, 1], so set "value_range": [0, 1]).
// Training only; draws from the augmentation stream.

import Foundation

struct RandomErasing: Layer {
    static let typeName = "random_erasing"
    static let argumentNames = ["factor", "scale", "fill_value", "value_range"]

    var factor: (lower: Double, upper: Double)
    var scale: (lower: Double, upper: Double)
    var fillValue: Double?
    var valueRange: (lower: Double, upper: Double)
    var height = 0, width = 0, channels = 0

    init(spec: SpecObject) throws(ConfigError) {
        factor = try RandomErasing.unitRange(spec, "factor", default: (0, 1))
        scale = try RandomErasing.unitRange(spec, "scale", default: (0.02, 0.33))
        fillValue = try spec.optionalNumber("fill_value", expected: "a number or null (normal noise)") { $0.isFinite }
        let range = spec.value("value_range") ?? .array([.number(0), .number(255)])
        guard case let .array(items) = range, items.count == 2, case let .number(low) = items[0], case let .number(high) = items[1],
              low.isFinite, high.isFinite, low < high else {
            throw ConfigError(path: spec.keyPath("value_range"), message: "expected a [low, high] pair of numbers with low < high, got \(range.kindDescription)")
        }
        valueRange = (low, high)
    }

    /// Keras' `factor` and `scale` within [0, 1]: a number f is (0, f), a pair is sorted.
    private static func unitRange(_ spec: SpecObject, _ key: String, default fallback: (Double, Double)) throws(ConfigError) -> (lower: Double, upper: Double) {
        guard let value = spec.value(key) else { return fallback }
        let expected = "a number from 0 to 1, or a [lower, upper] pair within 0...1"
        if case let .number(f) = value, (0 ... 1).contains(f) { return (0, f) }
        if case let .array(items) = value, items.count == 2, case let .number(a) = items[0], case let .number(b) = items[1],
           (0 ... 1).contains(a), (0 ... 1).contains(b) {
            return (min(a, b), max(a, b))
        }
        throw ConfigError(path: spec.keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("factor", factorJSON(factor)), ("scale", factorJSON(scale)), ("fill_value", fillValue.map { .number($0) } ?? .null),
         ("value_range", factorJSON(valueRange))]
    }

    var isAugmentation: Bool { true }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: Self.typeName, path: path)
        (height, width, channels) = (image.height, image.width, image.channels)
        return input
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let size = height * width * channels
        forEachImage(io, context, random: &random) { r, generator in
            (io.out + r * size).update(from: io.inp + r * size, count: size)
            erase(io.out + r * size, &generator)
        }
    }

    /// Keras' draws for one image, in its order: the two scales, the two starts, p, the threshold.
    func erase(_ image: UnsafeMutablePointer<Float>, _ generator: inout RandomGenerator) {
        let widthScale = generator.uniform(scale).squareRoot(), heightScale = generator.uniform(scale).squareRoot()
        let columnLength = widthScale * Double(width), rowLength = heightScale * Double(height)
        let x0 = generator.uniform((0, 1)) * (Double(width) - columnLength), y0 = generator.uniform((0, 1)) * (Double(height) - rowLength)
        let probability = generator.uniform(factor)
        guard generator.uniform((0, 1)) < probability else { return }
        let low = Float(valueRange.lower), high = Float(valueRange.upper)
        for y in 0 ..< height where Double(y) >= y0 && Double(y) < y0 + rowLength {
            for x in 0 ..< width where Double(x) >= x0 && Double(x) < x0 + columnLength {
                for c in 0 ..< channels {
                    let fill = fillValue.map(Float.init) ?? generator.normal() * high
                    image[(y * width + x) * channels + c] = min(max(fill, low), high)
                }
            }
        }
    }

    /// Nothing before an augmentation layer learns, so no gradient is needed.
    func backward(_ io: LayerIO, _ context: StepContext) {}

    /// Augmentation is for training only: an exported model has none.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {}
}

extension RandomGenerator {
    /// A standard normal draw (Box-Muller, from two uniform draws).
    mutating func normal() -> Float {
        let radius = (-2 * log(1 - uniform((0, 1)))).squareRoot()
        return Float(radius * cos(2 * Double.pi * uniform((0, 1))))
    }
}
