import Foundation

/// What one batch contributed: the summed per-sample loss and the count of correct predictions.
public struct BatchScore: Sendable {
    /// The batch's per-sample losses, summed.
    public var lossSum: Double
    /// How many of the batch's predictions were the label.
    public var correct: Int
}

/// Keras clips probabilities to [ε, 1 - ε] before taking their log.
let probabilityEpsilon: Float = 1e-7

// Losses over B rows of C outputs with integer labels; the one-hot targets of
// categorical cross-entropy are never materialised. Each computes the loss and,
// when `dout` is given, its gradient with respect to the outputs, already divided
// by the batch size N because the reported loss is the batch mean. A thread may
// score B < N rows of a batch of N.

/// Fused softmax + cross-entropy on logits (llm.c's `crossentropy_softmax_backward`):
/// turns `outputs` from logits into probabilities in place, loss = logsumexp(z) - z_y
/// (stable even where p_y underflows), and dz = (p - onehot) / N.
/// With label smoothing s (Keras' `label_smoothing`) the target is
/// t = (1 - s)·onehot + s/C: loss = logsumexp(z) - Σ t·z, dz = (p - t) / N.
func softmaxCrossEntropy(
    outputs: UnsafeMutablePointer<Float>, dout: UnsafeMutablePointer<Float>?, labels: UnsafePointer<Int32>, B: Int, C: Int, N: Int,
    labelSmoothing: Float = 0
) -> BatchScore {
    var score = BatchScore(lossSum: 0, correct: 0)
    let scale = 1 / Float(N)
    let offTarget = labelSmoothing / Float(C), onTarget = 1 - labelSmoothing + labelSmoothing / Float(C)
    for r in 0 ..< B {
        let z = outputs + r * C
        let y = Int(labels[r])
        var maximum = -Float.infinity, predicted = 0
        for c in 0 ..< C where z[c] > maximum { maximum = z[c]; predicted = c }
        var targetLogit = z[y]
        if labelSmoothing > 0 {
            var logitSum: Float = 0
            for c in 0 ..< C { logitSum += z[c] }
            targetLogit = (1 - labelSmoothing) * z[y] + offTarget * logitSum
        }
        var sum: Float = 0
        for c in 0 ..< C {
            z[c] = Foundation.exp(z[c] - maximum)
            sum += z[c]
        }
        score.lossSum += Double(Foundation.log(sum) + maximum - targetLogit)
        if predicted == y { score.correct += 1 }
        let inverse = 1 / sum
        for c in 0 ..< C { z[c] *= inverse }
        if let dout {
            let dz = dout + r * C
            if labelSmoothing > 0 {
                for c in 0 ..< C { dz[c] = (z[c] - offTarget) * scale }
                dz[y] = (z[y] - onTarget) * scale
            } else {
                for c in 0 ..< C { dz[c] = z[c] * scale }
                dz[y] -= scale
            }
        }
    }
    return score
}

/// Cross-entropy on probabilities (any last activation), as Keras computes it
/// without logits: p = o / Σo, clipped to [ε, 1 - ε], loss = -log p_y. The
/// gradient flows through the normalisation and is zero where the clip binds.
func crossEntropy(
    outputs: UnsafePointer<Float>, dout: UnsafeMutablePointer<Float>?, labels: UnsafePointer<Int32>, B: Int, C: Int, N: Int,
    labelSmoothing: Float = 0
) -> BatchScore {
    if labelSmoothing > 0 {
        return smoothedCrossEntropy(outputs: outputs, dout: dout, labels: labels, B: B, C: C, N: N, labelSmoothing: labelSmoothing)
    }
    var score = BatchScore(lossSum: 0, correct: 0)
    for r in 0 ..< B {
        let o = outputs + r * C
        let y = Int(labels[r])
        var sum: Float = 0
        for c in 0 ..< C { sum += o[c] }
        let p = o[y] / sum
        let clipped = min(max(p, probabilityEpsilon), 1 - probabilityEpsilon)
        score.lossSum += Double(-Foundation.log(clipped))
        if argmaxRow(o, C) == y { score.correct += 1 }
        if let dout {
            // dL/dp_y = -1/p_y inside the clip; then through p_j = o_j / S:
            // dL/do_k = (δ_ky g_y - g_y p_y) / S.
            let gy: Float = (p > probabilityEpsilon && p < 1 - probabilityEpsilon) ? -1 / p : 0
            let scale = 1 / (Float(N) * sum)
            let d = dout + r * C
            for c in 0 ..< C { d[c] = -gy * p * scale }
            d[y] += gy * scale
        }
    }
    return score
}

/// `crossEntropy` against smoothed targets t = (1 - s)·onehot + s/C: every
/// class contributes, loss = -Σ t_c log p_c. With g_c = -t_c / p_c inside the
/// clip (0 outside) and p = o / S: dL/do_k = (g_k - Σ g_c p_c) / S.
func smoothedCrossEntropy(
    outputs: UnsafePointer<Float>, dout: UnsafeMutablePointer<Float>?, labels: UnsafePointer<Int32>, B: Int, C: Int, N: Int,
    labelSmoothing: Float
) -> BatchScore {
    var score = BatchScore(lossSum: 0, correct: 0)
    let offTarget = labelSmoothing / Float(C)
    for r in 0 ..< B {
        let o = outputs + r * C
        let y = Int(labels[r])
        var sum: Float = 0
        for c in 0 ..< C { sum += o[c] }
        var loss: Float = 0, weighted: Float = 0
        for c in 0 ..< C {
            let p = o[c] / sum, t = offTarget + (c == y ? 1 - labelSmoothing : 0)
            loss -= t * Foundation.log(min(max(p, probabilityEpsilon), 1 - probabilityEpsilon))
            if p > probabilityEpsilon && p < 1 - probabilityEpsilon { weighted += -t }  // Σ g_c p_c with g_c = -t_c / p_c
        }
        score.lossSum += Double(loss)
        if argmaxRow(o, C) == y { score.correct += 1 }
        if let dout {
            let scale = 1 / (Float(N) * sum), d = dout + r * C
            for c in 0 ..< C {
                let p = o[c] / sum, t = offTarget + (c == y ? 1 - labelSmoothing : 0)
                let g: Float = (p > probabilityEpsilon && p < 1 - probabilityEpsilon) ? -t / p : 0
                d[c] = (g - weighted) * scale
            }
        }
    }
    return score
}

/// Mean squared error against one-hot targets: mean over classes, then batch.
func meanSquaredError(
    outputs: UnsafePointer<Float>, dout: UnsafeMutablePointer<Float>?, labels: UnsafePointer<Int32>, B: Int, C: Int, N: Int
) -> BatchScore {
    var score = BatchScore(lossSum: 0, correct: 0)
    let scale = 2 / (Float(N) * Float(C))
    for r in 0 ..< B {
        let o = outputs + r * C
        let y = Int(labels[r])
        var rowSum: Float = 0
        for c in 0 ..< C {
            let difference = o[c] - (c == y ? 1 : 0)
            rowSum += difference * difference
            dout?[r * C + c] = difference * scale
        }
        score.lossSum += Double(rowSum / Float(C))
        if argmaxRow(o, C) == y { score.correct += 1 }
    }
    return score
}
