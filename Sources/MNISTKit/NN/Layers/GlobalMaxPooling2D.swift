// keras.layers.GlobalMaxPooling2D (channels_last): the largest value of each
// channel over the image. Shapes: B images of (H, W, C) in, (C) out; P = H·W.
// The gradient goes to every position that holds the maximum, shared equally
// among ties, as TensorFlow's gradient of Keras' reduce_max does (ties are
// common after relu: a channel that is zero everywhere); the backward reads
// the input again instead of keeping positions.

struct GlobalMaxPooling2D: GlobalPooling2DLayer {
    static let typeName = "global_max_pooling2d"
    static let onnxOperator = "GlobalMaxPool"

    var positions = 0, channels = 0

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let P = positions, C = channels
        context.run(rows: io.B) { _, images in
            for b in images {
                let out = io.out + b * C, image = io.inp + b * P * C
                out.update(from: image, count: C)
                for p in 1 ..< max(P, 1) {
                    for c in 0 ..< C where image[p * C + c] > out[c] { out[c] = image[p * C + c] }
                }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let P = positions, C = channels
        context.run(rows: io.B) { _, images in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: C) { buffer in
                let share = buffer.baseAddress!
                for b in images {
                    let image = io.inp + b * P * C, gradient = dinp + b * P * C, maximum = io.out + b * C
                    share.initialize(repeating: 0, count: C)
                    for p in 0 ..< P {
                        for c in 0 ..< C where image[p * C + c] == maximum[c] { share[c] += 1 }
                    }
                    for c in 0 ..< C { share[c] = dout[b * C + c] / share[c] }
                    for p in 0 ..< P {
                        for c in 0 ..< C { gradient[p * C + c] = image[p * C + c] == maximum[c] ? share[c] : 0 }
                    }
                }
            }
            io.applyInputActivationGradient(rows: images, width: P * C)
        }
    }
}
