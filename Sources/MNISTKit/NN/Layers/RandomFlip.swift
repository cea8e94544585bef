// keras.layers.RandomFlip: mirrors each image left to right and/or top to
// bottom, each with probability 1/2 (`mode`: horizontal, vertical, or
// horizontal_and_vertical, Keras' default). Training only.

struct RandomFlip: AugmentationLayer {
    static let typeName = "random_flip"
    static let argumentNames = ["mode"]

    enum Mode: String, CaseIterable, Sendable {
        case horizontal, vertical
        case horizontalAndVertical = "horizontal_and_vertical"
    }

    var mode: Mode
    var resampler = Resampler()

    init(spec: SpecObject) throws(ConfigError) {
        mode = try spec.choice("mode", default: .horizontalAndVertical, noun: "mode")
    }

    var arguments: [(key: String, value: JSONValue)] { [("mode", .string(mode.rawValue))] }

    /// A mirror maps pixel centres onto pixel centres, so the resampling is exact.
    func drawMap(_ generator: inout RandomGenerator) -> AffineMap {
        var map = AffineMap.identity
        if mode != .vertical, generator.uniform((0, 1)) < 0.5 { (map.a0, map.a2) = (-1, Float(resampler.width - 1)) }
        if mode != .horizontal, generator.uniform((0, 1)) < 0.5 { (map.b1, map.b2) = (-1, Float(resampler.height - 1)) }
        return map
    }
}
