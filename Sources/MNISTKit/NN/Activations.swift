import Foundation

// Activations, forward and backward side by side. Shapes: B rows of C values.
// Backward needs only the forward's output, so layers keep outputs, not inputs.

/// out = f(inp); `out` may be `inp` (in place).
func activationForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, B: Int, C: Int, activation: Activation) {
    let n = B * C
    switch activation {
    case .linear:
        if UnsafePointer(out) != inp { out.update(from: inp, count: n) }
    case .relu:
        biasRelu(out: out, inp: inp, bias: nil, n: n)
    case .sigmoid:
        for k in 0 ..< n { out[k] = 1 / (1 + Foundation.exp(-inp[k])) }
    case .tanh:
        for k in 0 ..< n { out[k] = Foundation.tanh(inp[k]) }
    case .softmax:
        for r in 0 ..< B { softmaxRow(out: out + r * C, inp: inp + r * C, C: C) }
    }
}

/// Numerically stable softmax of one row: subtract the max before exp.
@inline(__always)
func softmaxRow(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, C: Int) {
    var maximum = -Float.infinity
    for c in 0 ..< C { maximum = max(maximum, inp[c]) }
    var sum: Float = 0
    for c in 0 ..< C {
        out[c] = Foundation.exp(inp[c] - maximum)
        sum += out[c]
    }
    let scale = 1 / sum
    for c in 0 ..< C { out[c] *= scale }
}

/// dinp = dout · f'(inp), written with the forward output `out`; `dinp` may be `dout`.
func activationBackward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, B: Int, C: Int, activation: Activation
) {
    let n = B * C
    switch activation {
    case .linear:
        if UnsafePointer(dinp) != dout { dinp.update(from: dout, count: n) }
    case .relu:
        reluBackward(dinp: dinp, dout: dout, out: out, n: n)
    case .sigmoid:
        for k in 0 ..< n { dinp[k] = dout[k] * out[k] * (1 - out[k]) }
    case .tanh:
        for k in 0 ..< n { dinp[k] = dout[k] * (1 - out[k] * out[k]) }
    case .softmax:
        // Jacobian-vector product: dz_i = p_i (dp_i - Σ_j dp_j p_j).
        for r in 0 ..< B {
            let p = out + r * C, dp = dout + r * C, dz = dinp + r * C
            var dotProduct: Float = 0
            for c in 0 ..< C { dotProduct += dp[c] * p[c] }
            for c in 0 ..< C { dz[c] = p[c] * (dp[c] - dotProduct) }
        }
    }
}

/// Inverted dropout: keeps each value with probability 1 - rate and scales the
/// kept ones by 1 / (1 - rate), so evaluation needs no rescaling.
func dropoutForward(
    out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
    rate: Float, generator: inout RandomGenerator
) {
    // Two 24-bit uniforms from each 64-bit draw.
    let scale = 1 / (1 - rate), unit: Float = 1 / 16_777_216
    var k = 0
    while k < count {
        let bits = generator.next()
        mask[k] = Float(bits >> 40) * unit >= rate ? scale : 0
        if k + 1 < count { mask[k + 1] = Float((bits >> 16) & 0xFF_FFFF) * unit >= rate ? scale : 0 }
        k += 2
    }
    for k in 0 ..< count { out[k] = inp[k] * mask[k] }
}

func dropoutBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
    for k in 0 ..< count { dinp[k] = dout[k] * mask[k] }
}
