import Foundation

// keras.layers.RandomRotation: rotates each image about its centre by a random
// fraction of a full turn (positive: counter-clockwise). Training only.

struct RandomRotation: AugmentationLayer {
    static let typeName = "random_rotation"
    static let argumentNames = ["factor"] + Resampler.argumentNames

    var factor: (lower: Double, upper: Double)
    var resampler = Resampler()

    init(spec: SpecObject) throws(ConfigError) {
        guard spec.has("factor") else { throw spec.missing("factor", "a number, or a [lower, upper] pair (fractions of a full turn)") }
        factor = try spec.factor("factor", default: nil, limit: -1e6 ... 1e6)!
        resampler = try Resampler(spec: spec)
    }

    var arguments: [(key: String, value: JSONValue)] { [("factor", factorJSON(factor))] + resampler.arguments }

    func drawMap(_ generator: inout RandomGenerator) -> AffineMap {
        AffineMap.rotation(by: generator.uniform(factor) * 2 * Double.pi, height: resampler.height, width: resampler.width)
    }
}

extension AffineMap {
    /// Keras' rotation matrix: input = R(θ)·(output - centre) + centre, with the
    /// centre at ((W - 1) / 2, (H - 1) / 2).
    static func rotation(by angle: Double, height: Int, width: Int) -> AffineMap {
        let c = cos(angle), s = sin(angle), w = Double(width - 1), h = Double(height - 1)
        return AffineMap(a0: Float(c), a1: Float(-s), a2: Float((w - (c * w - s * h)) / 2),
                         b0: Float(s), b1: Float(c), b2: Float((h - (s * w + c * h)) / 2))
    }
}
