import Foundation

// Keras' activations: each one's forward, gradient (scalar and vector) and
// ONNX operator in this file. Shapes: B rows of C values. The gradients need
// only the forward's output, so layers keep outputs, not inputs.

/// Keras' activations that layers accept, by their Keras names.
public enum Activation: String, CaseIterable, Sendable {
    case relu, sigmoid, softmax, tanh, linear

    /// Its gradient needs only the output, element by element: the next layer
    /// may apply it for the layer that produced it (see `LayerIO`).
    var isElementWise: Bool { self == .relu || self == .sigmoid || self == .tanh }

    /// The ONNX operator computing it; nil for linear, which needs none.
    /// Softmax takes its axis from the graph's layout (`ONNXGraph.activation`).
    var onnxOperator: String? {
        switch self {
        case .linear: return nil
        case .relu: return "Relu"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .softmax: return "Softmax"
        }
    }
}

/// out = f(inp); `out` may be `inp` (in place).
func activationForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, B: Int, C: Int, activation: Activation) {
    let n = B * C
    switch activation {
    case .linear where UnsafePointer(out) == inp:
        break
    case .linear:
        out.update(from: inp, count: n)
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

/// gradient · f'(x), written with the activation's output (as `activationBackward`).
@inline(__always)
func activationGradient(_ gradient: FloatVector, output: FloatVector, _ activation: Activation) -> FloatVector {
    switch activation {
    case .relu: return FloatVector(repeating: 0).replacing(with: gradient, where: output .> 0)
    case .sigmoid: return gradient * output * (1 - output)
    case .tanh: return gradient * (1 - output * output)
    case .linear, .softmax: return gradient
    }
}
