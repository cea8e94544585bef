// A fully connected layer, forward and backward side by side (llm.c style).
// Shapes: B batch rows, I inputs, O outputs. The kernel is (I, O), row-major,
// as Keras stores it; every product is one sgemm with transpose flags.

/// Columns `columns` of out (B, O) = activation(inp (B, I) · weight (I, O) + bias (O)).
/// The bias and the activation are one pass over sgemm's output. A thread may
/// compute a slice of columns only for an element-wise activation (softmax needs
/// whole rows). When the loss fuses softmax with cross-entropy, the model passes
/// `.linear` and the loss applies the softmax.
func denseForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, B: Int, I: Int, O: Int, columns: Range<Int>, activation: Activation
) {
    precondition(activation != .softmax || columns.count == O, "softmax needs whole rows")
    let c0 = columns.lowerBound, n = columns.count
    guard B > 0, n > 0 else { return }
    sgemm(m: B, n: n, k: I, a: inp, lda: I, b: weight + c0, ldb: O, c: out + c0, ldc: O)
    for r in 0 ..< B {
        let row = out + r * O + c0
        if activation == .relu {
            biasRelu(out: row, inp: row, bias: bias.map { $0 + c0 }, n: n)
            continue
        }
        if let bias { for o in 0 ..< n { row[o] += bias[c0 + o] } }
        activationForward(out: row, inp: row, B: 1, C: n, activation: activation)
    }
}

/// Given dout (B, O), the gradient with respect to the layer's pre-activation
/// output, one thread's part of the backward pass:
/// rows `inputs` of dweight (I, O) = inpᵀ · dout, columns `inputs` of
/// dinp (B, I) = dout · weightᵀ, and entries `outputs` of dbias (O) = column sums
/// of dout. Row i of the weight is read only for column i of dinp, so a thread
/// may update its rows of the weight as soon as this returns. A nil `dinp` skips
/// it (the images need no gradient).
func denseBackward(
    dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    B: Int, I: Int, O: Int, inputs: Range<Int>, outputs: Range<Int>
) {
    let i0 = inputs.lowerBound
    if !inputs.isEmpty {
        sgemm(transposeA: true, m: inputs.count, n: O, k: B, a: inp + i0, lda: I, b: dout, ldb: O, c: dweight + i0 * O, ldc: O)
        if let dinp {
            sgemm(transposeB: true, m: B, n: inputs.count, k: O, a: dout, lda: O, b: weight + i0 * O, ldb: O, c: dinp + i0, ldc: I)
        }
    }
    if let dbias, !outputs.isEmpty {
        columnSums(dbias + outputs.lowerBound, rows: dout + outputs.lowerBound, B: B, stride: O, n: outputs.count)
    }
}
