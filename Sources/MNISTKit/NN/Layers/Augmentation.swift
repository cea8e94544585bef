import Foundation

// What the augmentation layers share (keras.layers.RandomTranslation,
// RandomRotation, RandomZoom): each draws one affine map per image, from
// output pixel to input pixel, and resamples the image through it with
// Keras' fill modes and interpolations. Active in training only; they must
// come first in the model, so no gradient flows through them.

/// Maps output pixel (x, y) (column, row; pixel centres at integers) to the
/// input point (a0·x + a1·y + a2, b0·x + b1·y + b2), as Keras' transform matrices do.
struct AffineMap: Equatable {
    var a0: Float = 1, a1: Float = 0, a2: Float = 0
    var b0: Float = 0, b1: Float = 1, b2: Float = 0

    static let identity = AffineMap()
}

/// Keras' `fill_mode`: how points outside the image are read.
enum FillMode: String, CaseIterable, Sendable {
    /// `fill_value` outside.
    case constant
    /// (d c b a | a b c d | d c b a): mirrored about the edge of the last pixel.
    case reflect
    /// (a b c d | a b c d | a b c d)
    case wrap
    /// (a a a a | a b c d | d d d d)
    case nearest

    /// The index inside 0..<n that point i reads, or nil for the constant fill.
    @inline(__always)
    func index(_ i: Int, _ n: Int) -> Int? {
        if i >= 0 && i < n { return i }
        switch self {
        case .constant: return nil
        case .nearest: return min(max(i, 0), n - 1)
        case .wrap: return ((i % n) + n) % n
        case .reflect:
            let period = 2 * n, k = ((i % period) + period) % period
            return k < n ? k : period - 1 - k
        }
    }
}

enum Interpolation: String, CaseIterable, Sendable { case bilinear, nearest }

/// How one augmentation layer resamples: image geometry, fill and interpolation.
struct Resampler: Equatable, Sendable {
    var height = 0, width = 0, channels = 0
    var fillMode = FillMode.reflect
    var fillValue: Float = 0
    var interpolation = Interpolation.bilinear

    /// Writes one (H, W, C) image through `map`.
    func resample(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, map: AffineMap) {
        let H = height, W = width, C = channels
        func pixel(_ row: Int, _ column: Int, _ c: Int) -> Float {
            guard let r = fillMode.index(row, H), let q = fillMode.index(column, W) else { return fillValue }
            return input[(r * W + q) * C + c]
        }
        for y in 0 ..< H {
            for x in 0 ..< W {
                let sx = map.a0 * Float(x) + map.a1 * Float(y) + map.a2
                let sy = map.b0 * Float(x) + map.b1 * Float(y) + map.b2
                let out = output + (y * W + x) * C
                switch interpolation {
                case .nearest:
                    let row = Int((sy).rounded()), column = Int((sx).rounded())
                    for c in 0 ..< C { out[c] = pixel(row, column, c) }
                case .bilinear:
                    let x0 = sx.rounded(.down), y0 = sy.rounded(.down)
                    let fx = sx - x0, fy = sy - y0
                    let column = Int(x0), row = Int(y0)
                    for c in 0 ..< C {
                        let top = pixel(row, column, c) * (1 - fx) + pixel(row, column + 1, c) * fx
                        let bottom = pixel(row + 1, column, c) * (1 - fx) + pixel(row + 1, column + 1, c) * fx
                        out[c] = top * (1 - fy) + bottom * fy
                    }
                }
            }
        }
    }

    static let argumentNames = ["fill_mode", "interpolation", "fill_value"]

    init() {}

    init(spec: SpecObject) throws(ConfigError) {
        fillMode = try spec.choice("fill_mode", default: .reflect, noun: "fill mode")
        interpolation = try spec.choice("interpolation", default: .bilinear, noun: "interpolation")
        fillValue = Float(try spec.number("fill_value", default: 0, expected: "a number") { $0.isFinite })
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("fill_mode", .string(fillMode.rawValue)), ("interpolation", .string(interpolation.rawValue)), ("fill_value", .number(Double(fillValue)))]
    }
}

/// A layer that draws one `AffineMap` per image in training.
protocol AugmentationLayer: Layer {
    var resampler: Resampler { get set }
    /// The image's map, drawn from its own generator.
    func drawMap(_ generator: inout RandomGenerator) -> AffineMap
}

extension AugmentationLayer {
    var isAugmentation: Bool { true }

    /// Augmentation is for training only: an exported model has none.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {}

    /// Checks the input is an image and records its geometry; no variables.
    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: Self.typeName, path: path)
        (resampler.height, resampler.width, resampler.channels) = (image.height, image.width, image.channels)
        return input
    }

    /// Each image's map comes from its own stream of one seed drawn per step,
    /// so threads share the images and the maps do not depend on their count.
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let size = resampler.height * resampler.width * resampler.channels
        forEachImage(io, context, random: &random) { r, generator in
            resampler.resample(io.inp + r * size, into: io.out + r * size, map: drawMap(&generator))
        }
    }

    /// Nothing before an augmentation layer learns, so no gradient is needed.
    func backward(_ io: LayerIO, _ context: StepContext) {}
}

/// Runs `body(r, generator)` for each image r of the batch on the threads, each image with its
/// own stream of one seed drawn per step: the draws do not depend on the thread count.
func forEachImage(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator,
                  _ body: (_ r: Int, _ generator: inout RandomGenerator) -> Void) {
    let seed = random.next()
    context.run(rows: io.B) { _, rows in
        for r in rows {
            var generator = RandomGenerator(seed: seed, stream: UInt64(r))
            body(r, &generator)
        }
    }
}

extension RandomGenerator {
    /// Uniform in [lower, upper).
    mutating func uniform(_ range: (lower: Double, upper: Double)) -> Double {
        range.lower + (range.upper - range.lower) * Double(next() >> 11) * 0x1p-53
    }
}

extension SpecObject {
    /// Keras' factor arguments: a number f means (-f, f); a pair is (lower, upper).
    func factor(_ key: String, default fallback: (Double, Double)?, limit: ClosedRange<Double>) throws(ConfigError) -> (lower: Double, upper: Double)? {
        let expected = "a number, or a [lower, upper] pair, within \(limit.lowerBound)...\(limit.upperBound)"
        guard let value = value(key), value != .null else { return fallback }
        var range: (Double, Double)
        switch value {
        case let .number(f): range = (-abs(f), abs(f))
        case let .array(items):
            guard items.count == 2, case let .number(a) = items[0], case let .number(b) = items[1] else {
                throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
            }
            range = (a, b)
        default: throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
        }
        guard limit.contains(range.0), limit.contains(range.1), range.0 <= range.1 else {
            throw ConfigError(path: keyPath(key), message: "expected \(expected) with lower <= upper, got \(value.kindDescription)")
        }
        return range
    }
}

func factorJSON(_ range: (lower: Double, upper: Double)?) -> JSONValue {
    guard let range else { return .null }
    return .array([.number(range.lower), .number(range.upper)])
}
