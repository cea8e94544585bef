// keras.layers.MaxPooling2D (channels_last), forward and backward side by side.
// Shapes: B images of (H, W, C) in, (OH, OW, C) out. Training keeps, for each
// output, the offset of the input it came from (the first maximum in the
// window), so backward is a scatter.

struct MaxPooling2D: Layer {
    static let typeName = "max_pooling2d"
    static let kerasClassName = "MaxPooling2D"
    static let argumentNames = PoolingArguments.names

    var pooling: PoolingArguments
    var window = Window2D()

    init(spec: SpecObject) throws(ConfigError) { pooling = try PoolingArguments(spec: spec) }
    var arguments: [(key: String, value: JSONValue)] { pooling.json }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        window = try pooling.window(input: input, layer: Self.typeName, path: path)
        return [window.outputHeight, window.outputWidth, window.channels]
    }

    var appliesInputActivationGradient: Bool { true }

    /// Where each training output's maximum came from, as a float offset into its image.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        training ? [B * window.positions * window.channels] : []
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, C = g.channels, outSize = g.positions * C
        let sources = io.training ? io.scratch[0].pointer : nil
        context.run(rows: io.B) { _, images in
            for b in images {
                let image = io.inp + b * g.inputSize
                for oy in 0 ..< g.outputHeight {
                    for ox in 0 ..< g.outputWidth {
                        let at = b * outSize + (oy * g.outputWidth + ox) * C
                        maxOverWindow(out: io.out + at, source: sources.map { $0 + at }, image: image, rows: g.rows(oy), columns: g.columns(ox), g)
                    }
                }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let g = window, outSize = g.positions * g.channels, sources = UnsafePointer(io.scratch[0].pointer)
        context.run(rows: io.B) { _, images in
            let mine = dinp + images.lowerBound * g.inputSize
            mine.update(repeating: 0, count: images.count * g.inputSize)
            for b in images {
                let image = dinp + b * g.inputSize
                for k in b * outSize ..< (b + 1) * outSize { image[Int(sources[k])] += dout[k] }
            }
            if let previous = io.inputActivation {
                activationBackward(dinp: mine, dout: mine, out: io.inp + images.lowerBound * g.inputSize, B: images.count, C: g.inputSize, activation: previous)
            }
        }
    }
}

/// out[c] = the largest image value over the window, for every channel c, and
/// (when `source` is given) its offset in the image: the first on ties.
/// Sixteen channels at a time, branch-free.
@inline(__always)
private func maxOverWindow(out: UnsafeMutablePointer<Float>, source: UnsafeMutablePointer<Float>?, image: UnsafePointer<Float>,
                           rows: Range<Int>, columns: Range<Int>, _ g: Window2D) {
    let C = g.channels
    var c = 0
    while c + FloatVector.scalarCount <= C {
        var best = FloatVector(repeating: -.infinity), from = FloatVector(repeating: 0)
        for y in rows {
            for x in columns {
                let offset = (y * g.width + x) * C + c
                let value = loadVector(image + offset)
                let larger = value .> best
                best.replace(with: value, where: larger)
                from.replace(with: FloatVector(repeating: Float(offset)) + laneOffsets, where: larger)
            }
        }
        storeVector(best, out + c)
        if let source { storeVector(from, source + c) }
        c += FloatVector.scalarCount
    }
    while c < C {
        var best = -Float.infinity, from = 0
        for y in rows {
            for x in columns {
                let offset = (y * g.width + x) * C + c
                if image[offset] > best { best = image[offset]; from = offset }
            }
        }
        out[c] = best
        source?[c] = Float(from)
        c += 1
    }
}

private let laneOffsets = FloatVector(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

/// What Keras' 2-D pooling layers take: `pool_size` (2), `strides` (the pool
/// size), `padding` ("valid").
struct PoolingArguments: Sendable {
    static let names = ["pool_size", "strides", "padding"]
    var poolSize: [Int]
    var strides: [Int]
    var padding: Padding

    init(spec: SpecObject) throws(ConfigError) {
        poolSize = try spec.pair("pool_size", default: [2, 2])
        strides = try spec.pair("strides", default: poolSize)
        padding = try spec.choice("padding", default: .valid, noun: "padding")
    }

    var json: [(key: String, value: JSONValue)] {
        [("pool_size", poolSize.json), ("strides", strides.json), ("padding", .string(padding.rawValue))]
    }

    func window(input: [Int], layer: String, path: String) throws(ConfigError) -> Window2D {
        let image = try imageShape(input, layer: layer, path: path)
        let window = Window2D(height: image.height, width: image.width, channels: image.channels, kernel: poolSize, strides: strides, padding: padding)
        guard window.positions > 0 else {
            throw ConfigError(path: path + ".pool_size", message: "a \(poolSize[0])x\(poolSize[1]) pool does not fit the input \(formatShape(input)) with padding \"valid\"")
        }
        return window
    }
}
