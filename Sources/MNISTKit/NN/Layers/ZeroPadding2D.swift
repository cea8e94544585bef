// keras.layers.ZeroPadding2D (channels_last): rows and columns of zeros around
// each image. Shapes: B images of (H, W, C) in, (top + H + bottom,
// left + W + right, C) out; the backward crops the gradient back.

struct ZeroPadding2D: Layer {
    static let typeName = "zero_padding2d"
    static let argumentNames = ["padding"]

    /// (top, bottom, left, right).
    let top: Int, bottom: Int, left: Int, right: Int
    var height = 0, width = 0, channels = 0

    /// Keras' three forms of `padding` (default 1): p on every side; [h, w], h rows
    /// above and below and w columns left and right; [[top, bottom], [left, right]].
    init(spec: SpecObject) throws(ConfigError) {
        let expected = "an integer, a pair [rows, columns] or [[top, bottom], [left, right]], each from 0 to 1024"
        var sides: [Int]?
        switch spec.value("padding") ?? .number(1) {
        case let .number(value): sides = [JSONValue.number(value)].integers().map { Array(repeating: $0[0], count: 4) }
        case let .array(items) where items.count == 2:
            if let pair = items.integers() {
                sides = [pair[0], pair[0], pair[1], pair[1]]
            } else if case let .array(rows) = items[0], case let .array(columns) = items[1], rows.count == 2, columns.count == 2 {
                sides = (rows + columns).integers()
            }
        default: break
        }
        guard let sides, sides.allSatisfy({ $0 >= 0 && $0 <= 1024 }) else {
            throw ConfigError(path: spec.keyPath("padding"), message: "expected \(expected), got \(spec.value("padding")?.kindDescription ?? "nothing")")
        }
        (top, bottom, left, right) = (sides[0], sides[1], sides[2], sides[3])
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("padding", .array([.array([.number(Double(top)), .number(Double(bottom))]), .array([.number(Double(left)), .number(Double(right))])]))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: Self.typeName, path: path)
        (height, width, channels) = (image.height, image.width, image.channels)
        return [top + height + bottom, left + width + right, channels]
    }

    var appliesInputActivationGradient: Bool { true }

    private var outputWidth: Int { left + width + right }
    private var outputSize: Int { (top + height + bottom) * outputWidth * channels }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let C = channels, inputSize = height * width * C, rowSize = outputWidth * C, outputSize = outputSize
        context.run(rows: io.B) { _, images in
            for b in images {
                let out = io.out + b * outputSize, image = io.inp + b * inputSize
                out.update(repeating: 0, count: outputSize)
                for y in 0 ..< height {
                    (out + (top + y) * rowSize + left * C).update(from: image + y * width * C, count: width * C)
                }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let C = channels, inputSize = height * width * C, rowSize = outputWidth * C, outputSize = outputSize
        context.run(rows: io.B) { _, images in
            for b in images {
                let gradient = dout + b * outputSize, image = dinp + b * inputSize
                for y in 0 ..< height {
                    (image + y * width * C).update(from: gradient + (top + y) * rowSize + left * C, count: width * C)
                }
            }
            io.applyInputActivationGradient(rows: images, width: inputSize)
        }
    }
}

extension ZeroPadding2D {
    /// Pad with zeros on the channels-first image: pads (begins, then ends) for N, C, H, W.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        graph.node("Pad", [graph.current, graph.integers("pads", [0, 0, top, left, 0, 0, bottom, right])])
    }
}
