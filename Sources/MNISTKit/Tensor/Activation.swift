import Foundation

// Keras' activations: each one's forward, gradient (scalar and vector) and
// ONNX operator in this file. Shapes: B rows of C values. Most gradients need
// only the forward's output, so layers keep outputs, not inputs: leaky_relu's
// and elu's too, as their outputs are negative exactly where their inputs are
// (leaky_relu: slope 1 or 0.2 by the output's sign; elu: 1, or output + 1).
// gelu and silu are not monotonic, so their outputs do not give their inputs
// back: a layer applying one keeps its input as well (`needsInput`).

/// Keras' activations that layers accept, by their Keras names.
public enum Activation: String, CaseIterable, Sendable {
    case relu, sigmoid, softmax, tanh, linear
    /// Keras' `leaky_relu` activation: x, or 0.2·x below zero (`negative_slope` 0.2).
    case leakyRelu = "leaky_relu"
    /// Keras' `elu` activation: x, or exp(x) - 1 below zero (`alpha` 1).
    case elu
    /// Keras' `gelu` with its default `approximate=False`: x·Φ(x) = x/2·(1 + erf(x/√2)).
    case gelu
    /// Keras' `silu` (also `swish`, its other name there): x·sigmoid(x).
    case silu
    /// The same function as `silu`, under the name Keras also accepts.
    case swish

    /// leaky_relu's slope below zero, Keras' default for the activation function
    /// (the `LeakyReLU` layer's default, 0.3, is not this one).
    static let leakyReluSlope: Float = 0.2

    /// Its gradient needs only the output, element by element: the next layer
    /// may apply it for the layer that produced it (see `LayerIO`).
    var isElementWise: Bool { self != .softmax && self != .linear && !needsInput }

    /// Its gradient needs its input, which the layer applying it keeps.
    var needsInput: Bool { self == .gelu || self == .silu || self == .swish }

    /// The ONNX operator computing it; nil for linear, which needs none.
    /// Softmax takes its axis from the graph's layout (`ONNXGraph.activation`).
    var onnxOperator: String? {
        switch self {
        case .linear: return nil
        case .relu: return "Relu"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        case .softmax: return "Softmax"
        case .leakyRelu: return "LeakyRelu"
        case .elu: return "Elu"
        // Opset 13 has neither: built from Erf and Sigmoid (`ONNXGraph.activation`).
        case .gelu: return "Erf"
        case .silu, .swish: return "Sigmoid"
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
    case .leakyRelu:
        for k in 0 ..< n { out[k] = inp[k] > 0 ? inp[k] : Activation.leakyReluSlope * inp[k] }
    case .elu:
        // expm1: exact near zero, where exp(x) - 1 loses digits.
        for k in 0 ..< n { out[k] = inp[k] > 0 ? inp[k] : Foundation.expm1(inp[k]) }
    case .gelu:
        for k in 0 ..< n { out[k] = 0.5 * inp[k] * (1 + Foundation.erf(inp[k] * Float(0.5).squareRoot())) }
    case .silu, .swish:
        for k in 0 ..< n { out[k] = inp[k] / (1 + Foundation.exp(-inp[k])) }
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

/// dinp = dout · f'(inp), written with the forward output `out` (and its input
/// `inp`, which an activation that `needsInput` must be given); `dinp` may be `dout`.
func activationBackward(
    dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, inp: UnsafePointer<Float>? = nil,
    B: Int, C: Int, activation: Activation
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
    case .leakyRelu:
        for k in 0 ..< n { dinp[k] = out[k] > 0 ? dout[k] : Activation.leakyReluSlope * dout[k] }
    case .elu:
        for k in 0 ..< n { dinp[k] = out[k] > 0 ? dout[k] : dout[k] * (out[k] + 1) }
    case .gelu:
        guard let inp else { preconditionFailure("gelu's gradient needs its input") }
        // Φ(x) + x·φ(x), φ the standard normal density.
        let density = 1 / Float(2 * Double.pi).squareRoot()
        for k in 0 ..< n {
            let x = inp[k]
            dinp[k] = dout[k] * (0.5 * (1 + Foundation.erf(x * Float(0.5).squareRoot())) + x * density * Foundation.exp(-0.5 * x * x))
        }
    case .silu, .swish:
        guard let inp else { preconditionFailure("silu's gradient needs its input") }
        // s + x·s·(1 - s), s = sigmoid(x).
        for k in 0 ..< n {
            let s = 1 / (1 + Foundation.exp(-inp[k]))
            dinp[k] = dout[k] * (s + inp[k] * s * (1 - s))
        }
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
    case .leakyRelu: return (Activation.leakyReluSlope * gradient).replacing(with: gradient, where: output .> 0)
    case .elu: return (gradient * (output + 1)).replacing(with: gradient, where: output .> 0)
    case .linear, .softmax: return gradient
    case .gelu, .silu, .swish: preconditionFailure("\(activation) is not deferred: its gradient needs its input")
    }
}
