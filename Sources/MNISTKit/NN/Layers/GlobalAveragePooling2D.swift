// keras.layers.GlobalAveragePooling2D (channels_last): the mean of each
// channel over the image. Shapes: B images of (H, W, C) in, (C) out; P = H·W.

struct GlobalAveragePooling2D: GlobalPooling2DLayer {
    static let typeName = "global_average_pooling2d"
    static let onnxOperator = "GlobalAveragePool"

    var positions = 0, channels = 0

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let P = positions, C = channels, scale = 1 / Float(positions)
        context.run(rows: io.B) { _, images in
            for b in images {
                let out = io.out + b * C, image = io.inp + b * P * C
                out.update(repeating: 0, count: C)
                for p in 0 ..< P { for c in 0 ..< C { out[c] += image[p * C + c] } }
                for c in 0 ..< C { out[c] *= scale }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let P = positions, C = channels, scale = 1 / Float(positions)
        context.run(rows: io.B) { _, images in
            for b in images {
                let image = dinp + b * P * C, gradient = dout + b * C
                for p in 0 ..< P { for c in 0 ..< C { image[p * C + c] = gradient[c] * scale } }
            }
            io.applyInputActivationGradient(rows: images, width: P * C)
        }
    }
}

/// What global average and max pooling share: no arguments, (H, W, C) to (C),
/// the previous layer's deferred activation gradient, and their ONNX form.
protocol GlobalPooling2DLayer: Layer {
    /// ONNX's operator, to (N, C, 1, 1).
    static var onnxOperator: String { get }
    var positions: Int { get set }
    var channels: Int { get set }
    init()
}

extension GlobalPooling2DLayer {
    static var argumentNames: [String] { [] }

    init(spec: SpecObject) throws(ConfigError) { self.init() }
    var arguments: [(key: String, value: JSONValue)] { [] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: Self.typeName, path: path)
        (positions, channels) = (image.height * image.width, image.channels)
        return [channels]
    }

    var appliesInputActivationGradient: Bool { true }

    /// The global pool to (N, C, 1, 1), flattened to Keras' (N, C).
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        graph.node(Self.onnxOperator)
        graph.node("Flatten", attributes: [.int("axis", 1)])
        graph.layout = .keras
    }
}
