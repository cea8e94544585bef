// keras.layers.MaxPooling2D (channels_last), forward and backward side by side.
// Shapes: B images of (H, W, C) in, (OH, OW, C) out. In training the forward
// also records which window position held each maximum (the first on ties), so
// the backward scatters the gradient without reading the input again; sixteen
// channels at a time, branch-free.

struct MaxPooling2D: Pooling2DLayer {
    static let typeName = "max_pooling2d"

    var pooling: PoolingArguments
    var window = Window2D()

    init(pooling: PoolingArguments) { self.pooling = pooling }

    /// Training: each output's window position of its maximum (0 ..< kh·kw, as a float).
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        training ? [B * window.positions * window.channels] : []
    }

    /// Keras' default pool, 2x2 with strides 2, every window inside the image:
    /// four inputs at fixed offsets, written out (no window bounds, no loop).
    var isPlainTwoByTwo: Bool {
        let g = window
        return g.kernelHeight == 2 && g.kernelWidth == 2 && g.strideY == 2 && g.strideX == 2 && g.padTop == 0 && g.padLeft == 0
            && 2 * g.outputHeight <= g.height && 2 * g.outputWidth <= g.width
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, C = g.channels, outSize = g.positions * C, plain = isPlainTwoByTwo
        let argmax = io.scratch.first?.pointer
        context.run(rows: io.B) { _, images in
            for b in images {
                let image = io.inp + b * g.inputSize
                for oy in 0 ..< g.outputHeight {
                    for ox in 0 ..< g.outputWidth {
                        let at = b * outSize + (oy * g.outputWidth + ox) * C
                        let rows = g.rows(oy), columns = g.columns(ox), topLeft = image + (rows.lowerBound * g.width + columns.lowerBound) * C
                        forEachChannelVector(C) { c, width in
                            var maximum = WindowMaximum()
                            if plain {
                                maximum = maximum.considering(loadVector(topLeft + c, width), at: 0)
                                    .considering(loadVector(topLeft + C + c, width), at: 1)
                                    .considering(loadVector(topLeft + g.width * C + c, width), at: 2)
                                    .considering(loadVector(topLeft + (g.width + 1) * C + c, width), at: 3)
                            } else {
                                var k: Float = 0
                                for y in rows {
                                    for x in columns {
                                        maximum = maximum.considering(loadVector(image + (y * g.width + x) * C + c, width), at: k)
                                        k += 1
                                    }
                                }
                            }
                            storeVector(maximum.value, io.out + at + c, width)
                            if let argmax { storeVector(maximum.position, argmax + at + c, width) }
                        }
                    }
                }
            }
        }
    }

    /// Each output's gradient goes to the input the forward recorded as its
    /// maximum, times the previous layer's activation gradient when it is
    /// deferred here. Windows that do not overlap (strides = pool size) write
    /// every input they cover once; overlapping ones add up.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout, let argmax = io.scratch.first?.pointer else { return }
        let g = window, C = g.channels, outSize = g.positions * C, activation = io.inputActivation, plain = isPlainTwoByTwo
        let disjoint = g.strideY == g.kernelHeight && g.strideX == g.kernelWidth
        context.run(rows: io.B) { _, images in
            let mine = dinp + images.lowerBound * g.inputSize
            // Inputs no window covers (or, when windows overlap, all) start at zero.
            if !disjoint || g.outputHeight * g.strideY < g.height || g.outputWidth * g.strideX < g.width || g.padTop > 0 || g.padLeft > 0 {
                mine.update(repeating: 0, count: images.count * g.inputSize)
            }
            for b in images {
                let gradient = dinp + b * g.inputSize
                for oy in 0 ..< g.outputHeight {
                    for ox in 0 ..< g.outputWidth {
                        let at = b * outSize + (oy * g.outputWidth + ox) * C
                        let rows = g.rows(oy), columns = g.columns(ox), topLeft = gradient + (rows.lowerBound * g.width + columns.lowerBound) * C
                        forEachChannelVector(C) { c, width in
                            var dy = loadVector(dout + at + c, width)
                            // The maximum's input is the output: its activation gradient is the output's.
                            if let activation { dy = activationGradient(dy, output: loadVector(io.out + at + c, width), activation) }
                            let position = loadVector(argmax + at + c, width), zero = FloatVector(repeating: 0)
                            if plain {
                                storeVector(zero.replacing(with: dy, where: position .== 0), topLeft + c, width)
                                storeVector(zero.replacing(with: dy, where: position .== 1), topLeft + C + c, width)
                                storeVector(zero.replacing(with: dy, where: position .== 2), topLeft + g.width * C + c, width)
                                storeVector(zero.replacing(with: dy, where: position .== 3), topLeft + (g.width + 1) * C + c, width)
                                return
                            }
                            var k: Float = 0
                            for y in rows {
                                for x in columns {
                                    let offset = (y * g.width + x) * C + c
                                    var share = zero.replacing(with: dy, where: position .== k)
                                    if !disjoint { share += loadVector(gradient + offset, width) }
                                    storeVector(share, gradient + offset, width)
                                    k += 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

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
}

/// The spec and shapes that max and average pooling share; each file keeps its
/// forward and backward.
protocol Pooling2DLayer: Layer {
    var pooling: PoolingArguments { get }
    var window: Window2D { get set }
    init(pooling: PoolingArguments)
}

extension Pooling2DLayer {
    static var argumentNames: [String] { PoolingArguments.names }

    init(spec: SpecObject) throws(ConfigError) { self.init(pooling: try PoolingArguments(spec: spec)) }

    var arguments: [(key: String, value: JSONValue)] {
        [("pool_size", pooling.poolSize.json), ("strides", pooling.strides.json), ("padding", .string(pooling.padding.rawValue))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: Self.typeName, path: path)
        let (poolSize, strides) = (pooling.poolSize, pooling.strides)
        window = Window2D(height: image.height, width: image.width, channels: image.channels, kernel: poolSize, strides: strides, padding: pooling.padding)
        guard window.positions > 0 else {
            throw ConfigError(path: path + ".pool_size", message: "a \(poolSize[0])x\(poolSize[1]) pool does not fit the input \(formatShape(input)) with padding \"valid\"")
        }
        return [window.outputHeight, window.outputWidth, window.channels]
    }

    var appliesInputActivationGradient: Bool { true }
}

extension MaxPooling2D {
    /// MaxPool; ONNX, like Keras, never picks a padded position.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        graph.node("MaxPool", attributes: [.ints("kernel_shape", pooling.poolSize), .ints("strides", pooling.strides),
                                          .ints("pads", ONNXGraph.pads(window))])
    }
}
