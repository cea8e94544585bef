// A fully connected layer, forward and backward side by side (llm.c style).
// Shapes: B batch rows, I inputs, O outputs. The kernel is (I, O), row-major,
// as Keras stores it; every product is one sgemm with transpose flags.

/// out (B, O) = activation(inp (B, I) · weight (I, O) + bias (O)).
/// The bias and the activation are one pass over sgemm's output. When the loss
/// fuses softmax with cross-entropy, the model passes `.linear` and the loss
/// applies the softmax.
func denseForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, B: Int, I: Int, O: Int, activation: Activation
) {
    sgemm(m: B, n: O, k: I, a: inp, lda: I, b: weight, ldb: O, c: out, ldc: O)
    if let bias {
        if activation == .relu {
            for r in 0 ..< B { biasRelu(out: out + r * O, inp: out + r * O, bias: bias, n: O) }
            return
        }
        for r in 0 ..< B {
            let row = out + r * O
            for o in 0 ..< O { row[o] += bias[o] }
        }
    }
    activationForward(out: out, inp: out, B: B, C: O, activation: activation)
}

/// Given dout (B, O), the gradient with respect to the activation's output,
/// turns it into the pre-activation gradient in place (unless `preActivation`,
/// when the loss already did), then:
/// dweight (I, O) = inpᵀ · dout, dbias (O) = column sums of dout,
/// dinp (B, I) = dout · weightᵀ; nil `dinp` skips it (the images need no gradient).
func denseBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, out: UnsafePointer<Float>,
    B: Int, I: Int, O: Int, activation: Activation, preActivation: Bool
) {
    if !preActivation { activationBackward(dinp: dout, dout: dout, out: out, B: B, C: O, activation: activation) }
    sgemm(transposeA: true, m: I, n: O, k: B, a: inp, lda: I, b: dout, ldb: O, c: dweight, ldc: O)
    if let dbias {
        dbias.update(repeating: 0, count: O)
        for r in 0 ..< B {
            let row = dout + r * O
            for o in 0 ..< O { dbias[o] += row[o] }
        }
    }
    if let dinp {
        sgemm(transposeB: true, m: B, n: I, k: O, a: dout, lda: O, b: weight, ldb: O, c: dinp, ldc: I)
    }
}
