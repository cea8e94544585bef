// keras.layers.AveragePooling2D (channels_last), forward and backward side by
// side. Shapes: B images of (H, W, C) in, (OH, OW, C) out. With "same" padding
// a window at the edge averages only the values inside the image, as Keras does.

struct AveragePooling2D: Pooling2DLayer {
    static let typeName = "average_pooling2d"

    var pooling: PoolingArguments
    var window = Window2D()

    init(pooling: PoolingArguments) { self.pooling = pooling }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, C = g.channels, outSize = g.positions * C
        context.run(rows: io.B) { _, images in
            for b in images {
                let image = io.inp + b * g.inputSize
                for oy in 0 ..< g.outputHeight {
                    for ox in 0 ..< g.outputWidth {
                        let out = io.out + b * outSize + (oy * g.outputWidth + ox) * C
                        let rows = g.rows(oy), columns = g.columns(ox)
                        out.update(repeating: 0, count: C)
                        for y in rows { for x in columns { let pixel = image + (y * g.width + x) * C; for c in 0 ..< C { out[c] += pixel[c] } } }
                        let scale = 1 / Float(rows.count * columns.count)
                        for c in 0 ..< C { out[c] *= scale }
                    }
                }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let g = window, C = g.channels, outSize = g.positions * C
        context.run(rows: io.B) { _, images in
            let mine = dinp + images.lowerBound * g.inputSize
            mine.update(repeating: 0, count: images.count * g.inputSize)
            for b in images {
                let image = dinp + b * g.inputSize
                for oy in 0 ..< g.outputHeight {
                    for ox in 0 ..< g.outputWidth {
                        let gradient = dout + b * outSize + (oy * g.outputWidth + ox) * C
                        let rows = g.rows(oy), columns = g.columns(ox)
                        let scale = 1 / Float(rows.count * columns.count)
                        for y in rows { for x in columns { let pixel = image + (y * g.width + x) * C; for c in 0 ..< C { pixel[c] += gradient[c] * scale } } }
                    }
                }
            }
            io.applyInputActivationGradient(rows: images, width: g.inputSize)
        }
    }
}

extension AveragePooling2D {
    /// AveragePool over the values inside the image only (count_include_pad 0), as Keras.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        graph.node("AveragePool", attributes: [.ints("kernel_shape", pooling.poolSize), .ints("strides", pooling.strides),
                                              .ints("pads", ONNXGraph.pads(window)), .int("count_include_pad", 0)])
    }
}
