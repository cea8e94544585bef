// keras.layers.RandomTranslation: shifts each image by a random fraction of
// its height and width (positive: down and right). Training only.

struct RandomTranslation: AugmentationLayer {
    static let typeName = "random_translation"
    static let argumentNames = ["height_factor", "width_factor"] + Resampler.argumentNames

    var heightFactor: (lower: Double, upper: Double)
    var widthFactor: (lower: Double, upper: Double)
    var resampler = Resampler()

    init(spec: SpecObject) throws(ConfigError) {
        guard spec.has("height_factor") else { throw spec.missing("height_factor", "a number, or a [lower, upper] pair, within -1.0...1.0") }
        guard spec.has("width_factor") else { throw spec.missing("width_factor", "a number, or a [lower, upper] pair, within -1.0...1.0") }
        heightFactor = try spec.factor("height_factor", default: nil, limit: -1 ... 1)!
        widthFactor = try spec.factor("width_factor", default: nil, limit: -1 ... 1)!
        resampler = try Resampler(spec: spec)
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("height_factor", factorJSON(heightFactor)), ("width_factor", factorJSON(widthFactor))] + resampler.arguments
    }

    /// Input point = output point - shift (Keras' [1, 0, -dx, 0, 1, -dy]).
    func drawMap(_ generator: inout RandomGenerator) -> AffineMap {
        let dy = generator.uniform(heightFactor) * Double(resampler.height)
        let dx = generator.uniform(widthFactor) * Double(resampler.width)
        return AffineMap(a2: Float(-dx), b2: Float(-dy))
    }
}
