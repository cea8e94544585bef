import CFloatMath
import Foundation

/// Updates one flat parameter buffer from one flat gradient buffer; its slots
/// (moving averages, accumulators) are more buffers of the same length, so each
/// update is a single vectorisable loop. Rules follow Keras 3 exactly.
public final class Optimizer {
    /// The optimizer's kind and arguments.
    public let spec: OptimizerSpec
    /// Updates applied so far (Keras' `iterations`).
    public internal(set) var step = 0
    /// Named state buffers, each as long as the parameters.
    public let slots: [(name: String, buffer: FloatBuffer)]
    /// Resolves a one-cycle schedule given in epochs (the trainer sets it).
    public var stepsPerEpoch = 1
    /// A constant rate set during training (by reduce_lr_on_plateau); it
    /// replaces the spec's constant learning_rate and is kept in the checkpoint.
    public var learningRateOverride: Double?
    /// The rate of the update in progress.
    private(set) var currentLearningRate: Float = 0
    /// Nadam's running product of momentum-schedule factors, for `nadamProductStep`.
    private var nadamProduct = 1.0, nadamProductStep = 0
    /// This step's Nadam factors for m, g and v (computed once, read by every thread).
    private var nadamScales: (Float, Float, Float) = (0, 0, 0)

    /// An optimizer for `parameterCount` weights, its slots zeroed.
    public init(spec: OptimizerSpec, parameterCount: Int) {
        self.spec = spec
        let names: [String]
        switch spec.kind {
        case .sgd: names = spec.momentum > 0 ? ["momentum"] : []
        case .rmsprop: names = ["rms"] + (spec.momentum > 0 ? ["momentum"] : []) + (spec.centered ? ["average_gradient"] : [])
        case .adagrad: names = ["accumulator"]
        case .adam, .adamw, .nadam: names = ["m", "v"]
        }
        slots = names.map { ($0, FloatBuffer(count: parameterCount)) }
        if spec.kind == .adagrad { slots[0].buffer.fill(Float(spec.initialAccumulatorValue)) }
    }

    func slot(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let slot = slots.first(where: { $0.name == name }) else { preconditionFailure("no optimizer slot \(name)") }
        return slot.buffer.pointer
    }

    /// The rate the update after `step` updates uses: the schedule's value, or
    /// the rate a callback set.
    public func learningRate(atStep step: Int) -> Double {
        learningRateOverride ?? spec.learningRate.value(atStep: step, stepsPerEpoch: stepsPerEpoch)
    }

    /// The rate the next update will use.
    public var learningRate: Double { learningRate(atStep: step) }

    /// Clipping by norm needs each variable's whole gradient before any of it
    /// is applied, so the step cannot update slices as they become final.
    public var clipsByNorm: Bool { spec.clipnorm != nil || spec.globalClipnorm != nil }

    /// Applies one update to `n` parameters, with denormals flushed to zero.
    /// `variables` are the ranges clipnorm treats as one variable each (all of
    /// them by default).
    public func update(parameters w: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count n: Int,
                       variables: [Range<Int>]? = nil) {
        let g = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        defer { g.deallocate() }
        g.update(from: gradients, count: n)
        beginStep()
        withDenormalsFlushedToZero {
            clipByNorm(g, variables: variables ?? [0 ..< n])
            apply(w, g, 0 ..< n)
        }
    }

    /// Counts one update and fixes its learning rate; the training step then
    /// applies it range by range.
    func beginStep() {
        currentLearningRate = Float(learningRate(atStep: step))
        step += 1
        if spec.kind == .nadam {
            let t = Double(step), beta1 = spec.beta1
            let u = beta1 * (1 - 0.5 * pow(0.96, t)), uNext = beta1 * (1 - 0.5 * pow(0.96, t + 1))
            let product = nadamMomentumProduct(through: step), productNext = product * uNext
            nadamScales = (Float(uNext / (1 - productNext)), Float((1 - u) / (1 - product)), Float(1 / (1 - pow(spec.beta2, t))))
        }
    }

    /// Keras' clipnorm (each variable's gradient scaled to norm at most c) or
    /// global_clipnorm (all of them together), before the update. Norms are
    /// summed in double, in index order.
    func clipByNorm(_ g: UnsafeMutablePointer<Float>, variables: [Range<Int>]) {
        func squaredNorm(_ range: Range<Int>) -> Double { range.reduce(0.0) { $0 + Double(g[$1]) * Double(g[$1]) } }
        func scale(_ range: Range<Int>, norm: Double, limit: Double) {
            guard norm > limit else { return }
            let factor = Float(limit / norm)
            for k in range { g[k] *= factor }
        }
        if let limit = spec.clipnorm {
            for range in variables { scale(range, norm: squaredNorm(range).squareRoot(), limit: limit) }
        } else if let limit = spec.globalClipnorm {
            let norm = variables.reduce(0.0) { $0 + squaredNorm($1) }.squareRoot()
            for range in variables { scale(range, norm: norm, limit: limit) }
        }
    }

    /// The current step's update of the parameters in `range`. Each element's
    /// update reads only its own slots, so threads may apply disjoint ranges at once.
    func apply(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        let lr = currentLearningRate
        if let limit = spec.clipvalue {
            let c = Float(limit)
            for k in range { g[k] = min(max(g[k], -c), c) }
        }
        // Keras' decoupled weight decay, before the update: w -= w·wd·η.
        if let decay = spec.weightDecay, decay > 0 {
            let wd = Float(decay)
            for k in range { w[k] -= w[k] * wd * lr }
        }
        switch spec.kind {
        case .sgd:
            // SGD (keras.optimizers.SGD): v = μv - ηg; w += v, or w += μv - ηg with Nesterov.
            let mu = Float(spec.momentum), nesterov = spec.nesterov
            if spec.momentum == 0 {
                for k in range { w[k] -= lr * g[k] }
            } else {
                let v = slot("momentum")
                for k in range {
                    v[k] = mu * v[k] - lr * g[k]
                    w[k] += nesterov ? mu * v[k] - lr * g[k] : v[k]
                }
            }
        case .rmsprop:
            // RMSprop (keras.optimizers.RMSprop; Hinton, lecture 6e): r = ρr + (1-ρ)g²;
            // centered: a = ρa + (1-ρ)g, denominator r - a²; Δ = ηg / sqrt(denominator + ε);
            // with momentum m = μm + Δ, w -= m; else w -= Δ.
            let rho = Float(spec.rho), eps = Float(spec.epsilon), mu = Float(spec.momentum)
            let r = slot("rms")
            // One branch-free loop per variant, so each vectorises.
            switch (spec.centered, spec.momentum > 0) {
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
        case .adagrad:
            // Adagrad (keras.optimizers.Adagrad; Duchi et al. 2011): s += g²; w -= ηg / sqrt(s + ε).
            let eps = Float(spec.epsilon)
            let s = slot("accumulator")
            for k in range {
                s[k] += g[k] * g[k]
                w[k] -= lr * g[k] / errno_free_sqrtf(s[k] + eps)
            }
        case .adam, .adamw:
            // Adam (keras.optimizers.Adam; Kingma and Ba 2014): α = η sqrt(1-β₂ᵗ) / (1-β₁ᵗ);
            // m += (g - m)(1-β₁); v += (g² - v)(1-β₂); w -= α m / (sqrt(v) + ε).
            // AdamW is Adam with Keras' default weight_decay of 0.004 (applied above).
            let t = Double(step), beta1 = spec.beta1, beta2 = spec.beta2
            let alpha = Float(Double(lr) * (1 - pow(beta2, t)).squareRoot() / (1 - pow(beta1, t)))
            let b1 = Float(beta1), b2 = Float(beta2), eps = Float(spec.epsilon)
            let m = slot("m"), v = slot("v")
            for k in range {
                m[k] += (g[k] - m[k]) * (1 - b1)
                v[k] += (g[k] * g[k] - v[k]) * (1 - b2)
                w[k] -= alpha * m[k] / (errno_free_sqrtf(v[k]) + eps)
            }
        case .nadam:
            // Nadam (keras.optimizers.Nadam; Dozat 2016): Adam with Nesterov momentum
            // and the momentum schedule μₜ = β₁(1 - 0.5·0.96ᵗ):
            // m̂ = μₜ₊₁ m / (1 - Πμ..ₜ₊₁) + (1 - μₜ) g / (1 - Πμ..ₜ); v̂ = v / (1 - β₂ᵗ);
            // w -= η m̂ / (sqrt(v̂) + ε).
            let (mScale, gScale, vScale) = nadamScales
            let b1 = Float(spec.beta1), b2 = Float(spec.beta2), eps = Float(spec.epsilon)
            let m = slot("m"), v = slot("v")
            for k in range {
                m[k] += (g[k] - m[k]) * (1 - b1)
                v[k] += (g[k] * g[k] - v[k]) * (1 - b2)
                let mHat = mScale * m[k] + gScale * g[k]
                w[k] -= lr * mHat / (errno_free_sqrtf(v[k] * vScale) + eps)
            }
        }
    }

    /// Π over i = 1...t of β₁(1 - 0.5·0.96ⁱ): a function of the step alone,
    /// kept incrementally so each step multiplies once.
    private func nadamMomentumProduct(through t: Int) -> Double {
        if nadamProductStep > t { (nadamProduct, nadamProductStep) = (1, 0) }
        while nadamProductStep < t {
            nadamProductStep += 1
            nadamProduct *= spec.beta1 * (1 - 0.5 * pow(0.96, Double(nadamProductStep)))
        }
        return nadamProduct
    }
}
