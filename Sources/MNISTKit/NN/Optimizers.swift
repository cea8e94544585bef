import CFloatMath
import Foundation

/// Updates one flat parameter buffer from one flat gradient buffer; its slots
/// (moving averages, accumulators) are more buffers of the same length, so each
/// update is a single vectorisable loop. Rules follow Keras 3 exactly.
public final class Optimizer {
    public let spec: OptimizerSpec
    /// Updates applied so far (Keras' `iterations`).
    public internal(set) var step = 0
    /// Named state buffers, each as long as the parameters.
    public let slots: [(name: String, buffer: FloatBuffer)]

    public init(spec: OptimizerSpec, parameterCount: Int) {
        self.spec = spec
        let names: [String]
        switch spec {
        case let .sgd(_, momentum, _): names = momentum > 0 ? ["momentum"] : []
        case let .rmsprop(_, _, momentum, _, centered): names = ["rms"] + (momentum > 0 ? ["momentum"] : []) + (centered ? ["average_gradient"] : [])
        case .adagrad: names = ["accumulator"]
        case .adam: names = ["m", "v"]
        }
        slots = names.map { ($0, FloatBuffer(count: parameterCount)) }
        if case let .adagrad(_, initial, _) = spec { slots[0].buffer.fill(Float(initial)) }
    }

    func slot(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let slot = slots.first(where: { $0.name == name }) else { preconditionFailure("no optimizer slot \(name)") }
        return slot.buffer.pointer
    }

    /// Applies one update to `n` parameters, with denormals flushed to zero.
    public func update(parameters w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, count n: Int) {
        beginStep()
        withDenormalsFlushedToZero { apply(w, g, 0 ..< n) }
    }

    /// Counts one update; the training step then applies it range by range.
    func beginStep() { step += 1 }

    /// The current step's update of the parameters in `range`. Each element's
    /// update reads only its own slots, so threads may apply disjoint ranges at once.
    func apply(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ range: Range<Int>) {
        switch spec {
        case let .sgd(learningRate, momentum, nesterov):
            // SGD (keras.optimizers.SGD): v = μv - ηg; w += v, or w += μv - ηg with Nesterov.
            let lr = Float(learningRate), mu = Float(momentum)
            if momentum == 0 {
                for k in range { w[k] -= lr * g[k] }
            } else {
                let v = slot("momentum")
                for k in range {
                    v[k] = mu * v[k] - lr * g[k]
                    w[k] += nesterov ? mu * v[k] - lr * g[k] : v[k]
                }
            }
        case let .rmsprop(learningRate, rho, momentum, epsilon, centered):
            // RMSprop (keras.optimizers.RMSprop; Hinton, lecture 6e): r = ρr + (1-ρ)g²;
            // centered: a = ρa + (1-ρ)g, denominator r - a²; Δ = ηg / sqrt(denominator + ε);
            // with momentum m = μm + Δ, w -= m; else w -= Δ.
            let lr = Float(learningRate), rho = Float(rho), eps = Float(epsilon), mu = Float(momentum)
            let r = slot("rms")
            // One branch-free loop per variant, so each vectorises.
            switch (centered, momentum > 0) {
            case (false, false):
                for k in range {
                    r[k] = rho * r[k] + (1 - rho) * g[k] * g[k]
                    w[k] -= lr * g[k] / errno_free_sqrtf(r[k] + eps)
                }
            case (false, true):
                let m = slot("momentum")
                for k in range {
                    r[k] = rho * r[k] + (1 - rho) * g[k] * g[k]
                    m[k] = mu * m[k] + lr * g[k] / errno_free_sqrtf(r[k] + eps)
                    w[k] -= m[k]
                }
            case (true, false):
                let a = slot("average_gradient")
                for k in range {
                    r[k] = rho * r[k] + (1 - rho) * g[k] * g[k]
                    a[k] = rho * a[k] + (1 - rho) * g[k]
                    w[k] -= lr * g[k] / errno_free_sqrtf(r[k] - a[k] * a[k] + eps)
                }
            case (true, true):
                let a = slot("average_gradient"), m = slot("momentum")
                for k in range {
                    r[k] = rho * r[k] + (1 - rho) * g[k] * g[k]
                    a[k] = rho * a[k] + (1 - rho) * g[k]
                    m[k] = mu * m[k] + lr * g[k] / errno_free_sqrtf(r[k] - a[k] * a[k] + eps)
                    w[k] -= m[k]
                }
            }
        case let .adagrad(learningRate, _, epsilon):
            // Adagrad (keras.optimizers.Adagrad; Duchi et al. 2011): s += g²; w -= ηg / sqrt(s + ε).
            let lr = Float(learningRate), eps = Float(epsilon)
            let s = slot("accumulator")
            for k in range {
                s[k] += g[k] * g[k]
                w[k] -= lr * g[k] / errno_free_sqrtf(s[k] + eps)
            }
        case let .adam(learningRate, beta1, beta2, epsilon):
            // Adam (keras.optimizers.Adam; Kingma and Ba 2014): α = η sqrt(1-β₂ᵗ) / (1-β₁ᵗ);
            // m += (g - m)(1-β₁); v += (g² - v)(1-β₂); w -= α m / (sqrt(v) + ε).
            let t = Double(step)
            let alpha = Float(learningRate * (1 - pow(beta2, t)).squareRoot() / (1 - pow(beta1, t)))
            let b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
            let m = slot("m"), v = slot("v")
            for k in range {
                m[k] += (g[k] - m[k]) * (1 - b1)
                v[k] += (g[k] * g[k] - v[k]) * (1 - b2)
                w[k] -= alpha * m[k] / (errno_free_sqrtf(v[k]) + eps)
            }
        }
    }
}
