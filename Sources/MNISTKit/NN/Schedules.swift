import Foundation

// Learning-rate schedules: pure functions of the optimizer's step (the number of
// updates applied before this one, Keras' `iterations`), so a resumed run needs
// no state beyond the step. Formulas and defaults are Keras 3's
// (keras.optimizers.schedules); `one_cycle` is PyTorch's OneCycleLR.

/// A learning rate: a constant or a schedule, as Keras serialises it.
public enum LearningRate: Equatable, Sendable {
    case constant(Double)
    /// η₀ · rate^(t / steps), with t / steps floored when `staircase`.
    case exponentialDecay(initial: Double, decaySteps: Double, decayRate: Double, staircase: Bool)
    /// values[i] while t ≤ boundaries[i]; the last value after the last boundary.
    case piecewiseConstantDecay(boundaries: [Double], values: [Double])
    /// (η₀ - end) · (1 - t / steps)^power + end; with `cycle` the steps grow to
    /// the next multiple that exceeds t, else t stops at `decaySteps`.
    case polynomialDecay(initial: Double, decaySteps: Double, end: Double, power: Double, cycle: Bool)
    /// η₀ / (1 + rate · t / steps), with t / steps floored when `staircase`.
    case inverseTimeDecay(initial: Double, decaySteps: Double, decayRate: Double, staircase: Bool)
    /// Linear warmup from η₀ to `warmupTarget` over `warmupSteps`, then cosine
    /// decay to `alpha` times the peak over `decaySteps` (Loshchilov and Hutter 2017).
    case cosineDecay(initial: Double, decaySteps: Double, alpha: Double, warmupTarget: Double?, warmupSteps: Double)
    /// PyTorch's OneCycleLR: from max/div_factor up to max over `pctStart` of the
    /// steps, then down to max/(div_factor·final_div_factor) (Smith 2018). The
    /// steps are `totalSteps`, or `epochs` times `stepsPerEpoch` (by default the
    /// training's batches per epoch).
    case oneCycle(OneCycle)

    /// PyTorch's `OneCycleLR`: warm up from `max / div_factor` to `max`, then anneal to `max / (div_factor * final_div_factor)`.
    public struct OneCycle: Equatable, Sendable {
        /// The peak rate.
        public var maxLearningRate: Double
        /// The cycle's length in steps (or give `epochs`).
        public var totalSteps: Int?
        /// The cycle's length in epochs, times the batches per epoch.
        public var epochs: Int?
        /// Batches per epoch, filled in by the trainer when `epochs` is given.
        public var stepsPerEpoch: Int?
        /// The fraction of the cycle spent warming up.
        public var pctStart = 0.3
        /// "cos" or "linear" annealing.
        public var annealStrategy = "cos"
        /// The starting rate is `max / div_factor`.
        public var divFactor = 25.0
        /// The final rate is the starting rate / `final_div_factor`.
        public var finalDivFactor = 1e4
        /// Fast.ai's three phases: warm up, come back down, then anneal.
        public var threePhase = false

        /// A cycle peaking at `maxLearningRate`, `totalSteps` long (or `epochs` long), PyTorch's defaults otherwise.
        public init(maxLearningRate: Double, totalSteps: Int? = nil, epochs: Int? = nil) {
            self.maxLearningRate = maxLearningRate
            self.totalSteps = totalSteps
            self.epochs = epochs
        }
    }

    static let typeNames = ["exponential_decay", "piecewise_constant_decay", "polynomial_decay", "inverse_time_decay",
                            "cosine_decay", "one_cycle"]

    /// True for anything but a constant rate.
    public var isSchedule: Bool { if case .constant = self { return false } else { return true } }

    /// The rate for the update that follows `step` updates; `stepsPerEpoch`
    /// resolves a one-cycle schedule given in epochs.
    public func value(atStep step: Int, stepsPerEpoch: Int = 1) -> Double {
        let t = Double(step)
        switch self {
        case let .constant(rate):
            return rate
        case let .exponentialDecay(initial, decaySteps, decayRate, staircase):
            let p = staircase ? (t / decaySteps).rounded(.down) : t / decaySteps
            return initial * pow(decayRate, p)
        case let .piecewiseConstantDecay(boundaries, values):
            return values[boundaries.firstIndex { t <= $0 } ?? boundaries.count]
        case let .polynomialDecay(initial, decaySteps, end, power, cycle):
            var steps = decaySteps, t = t
            if cycle { steps *= t == 0 ? 1 : (t / decaySteps).rounded(.up) } else { t = min(t, decaySteps) }
            return (initial - end) * pow(1 - t / steps, power) + end
        case let .inverseTimeDecay(initial, decaySteps, decayRate, staircase):
            let p = staircase ? (t / decaySteps).rounded(.down) : t / decaySteps
            return initial / (1 + decayRate * p)
        case let .cosineDecay(initial, decaySteps, alpha, warmupTarget, warmupSteps):
            func decay(_ t: Double, from peak: Double) -> Double {
                let cosine = 0.5 * (1 + cos(Double.pi * t / decaySteps))
                return peak * ((1 - alpha) * cosine + alpha)
            }
            guard let warmupTarget else { return decay(min(t, decaySteps), from: initial) }
            let t = min(t, decaySteps + warmupSteps)
            if t < warmupSteps { return (warmupTarget - initial) * (t / warmupSteps) + initial }
            return decay(t - warmupSteps, from: warmupTarget)
        case let .oneCycle(cycle):
            return cycle.value(atStep: step, stepsPerEpoch: stepsPerEpoch)
        }
    }
}

extension LearningRate.OneCycle {
    /// The schedule's length in steps.
    public func totalSteps(stepsPerEpoch: Int) -> Int {
        totalSteps ?? (epochs ?? 1) * (self.stepsPerEpoch ?? stepsPerEpoch)
    }

    /// PyTorch's phases: (end step, start rate, end rate); past the last step
    /// the rate stays at its final value (PyTorch refuses to step further).
    func value(atStep step: Int, stepsPerEpoch: Int) -> Double {
        let total = Double(totalSteps(stepsPerEpoch: stepsPerEpoch))
        let initial = maxLearningRate / divFactor, minimum = initial / finalDivFactor
        let phases: [(end: Double, from: Double, to: Double)] = threePhase
            ? [(pctStart * total - 1, initial, maxLearningRate), (2 * pctStart * total - 2, maxLearningRate, initial), (total - 1, initial, minimum)]
            : [(pctStart * total - 1, initial, maxLearningRate), (total - 1, maxLearningRate, minimum)]
        let t = min(Double(step), total - 1)
        var start = 0.0
        for (i, phase) in phases.enumerated() {
            guard t <= phase.end || i == phases.count - 1 else { start = phase.end; continue }
            let fraction = phase.end > start ? (t - start) / (phase.end - start) : 1
            if annealStrategy == "linear" { return (phase.to - phase.from) * fraction + phase.from }
            return phase.to + (phase.from - phase.to) / 2 * (cos(Double.pi * fraction) + 1)
        }
        return minimum
    }
}

// MARK: Spec

extension LearningRate {
    /// A number, or `{"type": "cosine_decay", ...}` with Keras' argument names.
    public init(json value: JSONValue, path: String) throws(ConfigError) {
        let positive = "a positive number", nonNegative = "a non-negative number"
        let names = LearningRate.typeNames.joined(separator: ", ")
        switch value {
        case let .number(rate):
            guard rate > 0, rate.isFinite else { throw ConfigError(path: path, message: "expected a positive number or a schedule object, got \(value.kindDescription)") }
            self = .constant(rate)
            return
        case .object: break
        default: throw ConfigError(path: path, message: "expected a positive number or a schedule object, got \(value.kindDescription)")
        }
        guard case let .string(type)? = value["type"] else { throw ConfigError(path: path + ".type", message: "missing; expected one of \(names)") }
        func object(_ keys: [String]) throws(ConfigError) -> SpecObject { try SpecObject(value, path: path, allowedKeys: ["type"] + keys) }
        switch type {
        case "exponential_decay", "inverse_time_decay":
            let o = try object(["initial_learning_rate", "decay_steps", "decay_rate", "staircase"])
            let initial = try o.number("initial_learning_rate", default: nil, expected: positive) { $0 > 0 }
            let steps = try o.number("decay_steps", default: nil, expected: positive) { $0 > 0 }
            let rate = try o.number("decay_rate", default: nil, expected: positive) { $0 > 0 }
            let staircase = try o.bool("staircase", default: false)
            self = type == "exponential_decay"
                ? .exponentialDecay(initial: initial, decaySteps: steps, decayRate: rate, staircase: staircase)
                : .inverseTimeDecay(initial: initial, decaySteps: steps, decayRate: rate, staircase: staircase)
        case "piecewise_constant_decay":
            let o = try object(["boundaries", "values"])
            func numbers(_ key: String) throws(ConfigError) -> [Double] {
                guard let list = o.value(key) else { throw o.missing(key, "an array of numbers") }
                guard case let .array(items) = list else { throw ConfigError(path: o.keyPath(key), message: "expected an array of numbers, got \(list.kindDescription)") }
                return try items.enumerated().map { index, item throws(ConfigError) in
                    guard case let .number(n) = item, n.isFinite else { throw ConfigError(path: "\(o.keyPath(key))[\(index)]", message: "expected a number, got \(item.kindDescription)") }
                    return n
                }
            }
            let boundaries = try numbers("boundaries"), values = try numbers("values")
            guard values.count == boundaries.count + 1 else {
                throw ConfigError(path: o.keyPath("values"), message: "has \(values.count) values for \(boundaries.count) boundaries; expected one more value than boundaries")
            }
            guard zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ConfigError(path: o.keyPath("boundaries"), message: "expected increasing step numbers")
            }
            guard values.allSatisfy({ $0 > 0 }) else { throw ConfigError(path: o.keyPath("values"), message: "expected positive learning rates") }
            self = .piecewiseConstantDecay(boundaries: boundaries, values: values)
        case "polynomial_decay":
            let o = try object(["initial_learning_rate", "decay_steps", "end_learning_rate", "power", "cycle"])
            self = .polynomialDecay(initial: try o.number("initial_learning_rate", default: nil, expected: positive) { $0 > 0 },
                                    decaySteps: try o.number("decay_steps", default: nil, expected: positive) { $0 > 0 },
                                    end: try o.number("end_learning_rate", default: 0.0001, expected: nonNegative) { $0 >= 0 },
                                    power: try o.number("power", default: 1, expected: positive) { $0 > 0 },
                                    cycle: try o.bool("cycle", default: false))
        case "cosine_decay":
            let o = try object(["initial_learning_rate", "decay_steps", "alpha", "warmup_target", "warmup_steps"])
            let initial = try o.number("initial_learning_rate", default: nil, expected: nonNegative) { $0 >= 0 }
            let target = try o.optionalNumber("warmup_target", expected: positive) { $0 > 0 }
            guard initial > 0 || target != nil else {
                throw ConfigError(path: o.keyPath("initial_learning_rate"), message: "expected a positive number (0 only with a warmup_target), got 0")
            }
            self = .cosineDecay(initial: initial, decaySteps: try o.number("decay_steps", default: nil, expected: positive) { $0 > 0 },
                                alpha: try o.number("alpha", default: 0, expected: "a number from 0 to 1") { $0 >= 0 && $0 <= 1 },
                                warmupTarget: target,
                                warmupSteps: try o.number("warmup_steps", default: 0, expected: nonNegative) { $0 >= 0 })
            if case let .cosineDecay(_, _, _, nil, warmupSteps) = self, warmupSteps > 0 {
                throw ConfigError(path: o.keyPath("warmup_steps"), message: "needs a warmup_target to warm up to")
            }
        case "one_cycle":
            let o = try object(["max_learning_rate", "total_steps", "epochs", "steps_per_epoch", "pct_start", "anneal_strategy",
                                "div_factor", "final_div_factor", "three_phase"])
            var cycle = OneCycle(maxLearningRate: try o.number("max_learning_rate", default: nil, expected: positive) { $0 > 0 })
            func optionalCount(_ key: String) throws(ConfigError) -> Int? {
                guard let item = o.value(key), item != .null else { return nil }
                return try o.integer(key, default: nil)
            }
            cycle.totalSteps = try optionalCount("total_steps")
            cycle.epochs = try optionalCount("epochs")
            cycle.stepsPerEpoch = try optionalCount("steps_per_epoch")
            guard (cycle.totalSteps == nil) != (cycle.epochs == nil) else {
                throw ConfigError(path: path, message: "give total_steps, or epochs (with steps_per_epoch, by default the training's batches per epoch), not both")
            }
            if cycle.totalSteps != nil, cycle.stepsPerEpoch != nil {
                throw ConfigError(path: o.keyPath("steps_per_epoch"), message: "goes with epochs, not with total_steps")
            }
            cycle.pctStart = try o.number("pct_start", default: 0.3, expected: "a number between 0 and 1") { $0 > 0 && $0 < 1 }
            cycle.annealStrategy = try o.string("anneal_strategy", default: "cos")
            guard ["cos", "linear"].contains(cycle.annealStrategy) else {
                throw ConfigError(path: o.keyPath("anneal_strategy"), message: "unknown strategy \"\(cycle.annealStrategy)\"; expected one of cos, linear")
            }
            cycle.divFactor = try o.number("div_factor", default: 25, expected: positive) { $0 > 0 }
            cycle.finalDivFactor = try o.number("final_div_factor", default: 1e4, expected: positive) { $0 > 0 }
            cycle.threePhase = try o.bool("three_phase", default: false)
            self = .oneCycle(cycle)
        default:
            let suggestion = nearest(type, in: LearningRate.typeNames).map { "did you mean \"\($0)\"? " } ?? ""
            throw ConfigError(path: path + ".type", message: "unknown schedule \"\(type)\"; \(suggestion)expected one of \(names)")
        }
    }

    /// The number, or the schedule object with every default written out.
    public var json: JSONValue {
        func object(_ type: String, _ members: [(String, JSONValue)]) -> JSONValue {
            .object([("type", .string(type))] + members.map { (key: $0.0, value: $0.1) })
        }
        switch self {
        case let .constant(rate):
            return .number(rate)
        case let .exponentialDecay(initial, steps, rate, staircase):
            return object("exponential_decay", [("initial_learning_rate", .number(initial)), ("decay_steps", .number(steps)),
                                                ("decay_rate", .number(rate)), ("staircase", .bool(staircase))])
        case let .inverseTimeDecay(initial, steps, rate, staircase):
            return object("inverse_time_decay", [("initial_learning_rate", .number(initial)), ("decay_steps", .number(steps)),
                                                 ("decay_rate", .number(rate)), ("staircase", .bool(staircase))])
        case let .piecewiseConstantDecay(boundaries, values):
            return object("piecewise_constant_decay", [("boundaries", .array(boundaries.map { .number($0) })),
                                                       ("values", .array(values.map { .number($0) }))])
        case let .polynomialDecay(initial, steps, end, power, cycle):
            return object("polynomial_decay", [("initial_learning_rate", .number(initial)), ("decay_steps", .number(steps)),
                                               ("end_learning_rate", .number(end)), ("power", .number(power)), ("cycle", .bool(cycle))])
        case let .cosineDecay(initial, steps, alpha, target, warmupSteps):
            return object("cosine_decay", [("initial_learning_rate", .number(initial)), ("decay_steps", .number(steps)),
                                           ("alpha", .number(alpha)), ("warmup_target", target.map { .number($0) } ?? .null),
                                           ("warmup_steps", .number(warmupSteps))])
        case let .oneCycle(cycle):
            func count(_ n: Int?) -> JSONValue { n.map { .number(Double($0)) } ?? .null }
            return object("one_cycle", [("max_learning_rate", .number(cycle.maxLearningRate)), ("total_steps", count(cycle.totalSteps)),
                                        ("epochs", count(cycle.epochs)), ("steps_per_epoch", count(cycle.stepsPerEpoch)),
                                        ("pct_start", .number(cycle.pctStart)), ("anneal_strategy", .string(cycle.annealStrategy)),
                                        ("div_factor", .number(cycle.divFactor)), ("final_div_factor", .number(cycle.finalDivFactor)),
                                        ("three_phase", .bool(cycle.threePhase))])
        }
    }
}
