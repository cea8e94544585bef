// keras.layers.RandomZoom: scales each image about its centre by 1 + a random
// factor (positive: zoom out, negative: zoom in); without a width_factor the
// aspect ratio is kept. Training only.

struct RandomZoom: AugmentationLayer {
    static let typeName = "random_zoom"
    static let argumentNames = ["height_factor", "width_factor"] + Resampler.argumentNames

    var heightFactor: (lower: Double, upper: Double)
    var widthFactor: (lower: Double, upper: Double)?
    var resampler = Resampler()

    init(spec: SpecObject) throws(ConfigError) {
        guard spec.has("height_factor") else { throw spec.missing("height_factor", "a number, or a [lower, upper] pair, within -1.0...1.0") }
        heightFactor = try spec.factor("height_factor", default: nil, limit: -1 ... 1)!
        widthFactor = try spec.factor("width_factor", default: nil, limit: -1 ... 1)
        resampler = try Resampler(spec: spec)
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("height_factor", factorJSON(heightFactor)), ("width_factor", factorJSON(widthFactor))] + resampler.arguments
    }

    func drawMap(_ generator: inout RandomGenerator) -> AffineMap {
        let zy = 1 + generator.uniform(heightFactor)
        let zx = widthFactor.map { 1 + generator.uniform($0) } ?? zy
        return AffineMap.zoom(x: zx, y: zy, height: resampler.height, width: resampler.width)
    }
}

extension AffineMap {
    /// Keras' zoom matrix: input = centre + z·(output - centre).
    static func zoom(x zx: Double, y zy: Double, height: Int, width: Int) -> AffineMap {
        AffineMap(a0: Float(zx), a2: Float(Double(width - 1) / 2 * (1 - zx)),
                  b1: Float(zy), b2: Float(Double(height - 1) / 2 * (1 - zy)))
    }
}
