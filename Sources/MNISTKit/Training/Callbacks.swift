// Keras' EarlyStopping and ReduceLROnPlateau: settings from the spec's
// `callbacks` list, state kept in the training state (so in the checkpoint),
// and the same decisions as keras.callbacks makes, epoch by epoch. Epochs are
// counted from 0 here, as Keras' callbacks count them.

/// A figure an epoch reports, by its Keras log name.
public enum MonitoredQuantity: String, CaseIterable, Sendable {
    case loss, accuracy
    case validationLoss = "val_loss", validationAccuracy = "val_accuracy"

    /// Keras' "auto" mode: losses should fall, accuracies rise.
    var risesWhenBetter: Bool { self == .accuracy || self == .validationAccuracy }
    var needsValidation: Bool { self == .validationLoss || self == .validationAccuracy }

    func value(in report: EpochReport) -> Double? {
        switch self {
        case .loss: return report.loss
        case .accuracy: return report.accuracy
        case .validationLoss: return report.validation?.loss
        case .validationAccuracy: return report.validation?.accuracy
        }
    }
}

/// Whether the monitored figure should fall (`min`), rise (`max`), or as its name says (`auto`: accuracies rise, losses fall).
public enum MonitorMode: String, CaseIterable, Sendable { case auto, min, max }

/// Keras' MonitorCallback comparison: better by more than `minDelta`.
struct Monitor: Equatable, Sendable {
    var quantity: MonitoredQuantity
    var mode: MonitorMode
    var minDelta: Double

    var maximizes: Bool { mode == .max || (mode == .auto && quantity.risesWhenBetter) }

    func isImprovement(_ value: Double, over reference: Double?) -> Bool {
        guard let reference else { return true }
        return maximizes ? value - minDelta > reference : value + minDelta < reference
    }

    static func parse(_ o: SpecObject, minDeltaDefault: Double) throws(ConfigError) -> Monitor {
        Monitor(quantity: try o.choice("monitor", default: .validationLoss, noun: "monitored quantity"),
                mode: try o.choice("mode", default: .auto, noun: "mode"),
                minDelta: abs(try o.number("min_delta", default: minDeltaDefault, expected: "a number") { $0.isFinite }))
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("monitor", .string(quantity.rawValue)), ("mode", .string(mode.rawValue)), ("min_delta", .number(minDelta))]
    }
}

/// keras.callbacks.EarlyStopping: stops when the monitored figure has not
/// improved for `patience` epochs; optionally restores the best epoch's weights.
public struct EarlyStopping: Equatable, Sendable {
    var monitor: Monitor
    /// Epochs without improvement before training stops.
    public var patience = 0
    /// A value the figure must beat; until it does, epochs count as without improvement.
    public var baseline: Double?
    /// At the end, put back the weights of the best epoch.
    public var restoreBestWeights = false
    /// Epochs to train before watching starts.
    public var startFromEpoch = 0

    /// What carries across epochs (and resumes).
    public struct State: Equatable, Sendable {
        /// The state before the first epoch.
        public init() {}
        /// Epochs since the last improvement.
        public var wait = 0
        /// The best figure so far (nil: none yet).
        public var best: Double?
        /// 0-based, as Keras counts.
        public var bestEpoch = 0
        /// The 0-based epoch training stopped after (0: it has not stopped).
        public var stoppedEpoch = 0
        /// All variables (trainable, then non-trainable) at the best epoch.
        public var bestWeights: [Float]?
    }

    /// Early stopping with Keras' arguments and defaults.
    public init(monitor: MonitoredQuantity = .validationLoss, mode: MonitorMode = .auto, minDelta: Double = 0, patience: Int = 0,
                baseline: Double? = nil, restoreBestWeights: Bool = false, startFromEpoch: Int = 0) {
        self.monitor = Monitor(quantity: monitor, mode: mode, minDelta: abs(minDelta))
        (self.patience, self.baseline, self.restoreBestWeights, self.startFromEpoch) = (patience, baseline, restoreBestWeights, startFromEpoch)
    }

    /// Keras' `on_epoch_end` for epoch `epoch` (from 0): returns whether training
    /// should stop. `weights` gives the model's variables, kept when best.
    public func epochEnded(_ epoch: Int, report: EpochReport, state: inout State, weights: () -> [Float]) -> Bool {
        guard let current = monitor.quantity.value(in: report), epoch >= startFromEpoch else { return false }
        if restoreBestWeights, state.bestWeights == nil {
            state.bestWeights = weights()
            state.bestEpoch = epoch
        }
        state.wait += 1
        if monitor.isImprovement(current, over: state.best) {
            state.best = current
            state.bestEpoch = epoch
            if restoreBestWeights { state.bestWeights = weights() }
            if baseline == nil || monitor.isImprovement(current, over: baseline) { state.wait = 0 }
            return false
        }
        if state.wait >= patience, epoch > 0 {
            state.stoppedEpoch = epoch
            return true
        }
        return false
    }
}

/// keras.callbacks.ReduceLROnPlateau: multiplies a constant learning rate by
/// `factor` after `patience` epochs without improvement, then waits `cooldown`.
public struct ReduceLROnPlateau: Equatable, Sendable {
    var monitor: Monitor
    /// The rate is multiplied by this on a plateau.
    public var factor = 0.1
    /// Epochs without improvement that make a plateau.
    public var patience = 10
    /// Epochs to wait after a reduction before counting again.
    public var cooldown = 0
    /// The rate never goes below this.
    public var minLearningRate = 0.0

    /// What carries across epochs (and resumes).
    public struct State: Equatable, Sendable {
        /// The state before the first epoch.
        public init() {}
        /// Epochs since the last improvement.
        public var wait = 0
        /// Epochs of cooldown left.
        public var cooldownCounter = 0
        /// The best figure so far (nil: none yet).
        public var best: Double?
    }

    /// Plateau reduction with Keras' arguments and defaults.
    public init(monitor: MonitoredQuantity = .validationLoss, mode: MonitorMode = .auto, minDelta: Double = 1e-4, factor: Double = 0.1,
                patience: Int = 10, cooldown: Int = 0, minLearningRate: Double = 0) {
        self.monitor = Monitor(quantity: monitor, mode: mode, minDelta: abs(minDelta))
        (self.factor, self.patience, self.cooldown, self.minLearningRate) = (factor, patience, cooldown, minLearningRate)
    }

    /// Keras' `on_epoch_end`: the new rate when it reduces, else nil.
    public func epochEnded(report: EpochReport, learningRate: Double, state: inout State) -> Double? {
        guard let current = monitor.quantity.value(in: report) else { return nil }
        if state.cooldownCounter > 0 {
            state.cooldownCounter -= 1
            state.wait = 0
        }
        if monitor.isImprovement(current, over: state.best) {
            state.best = current
            state.wait = 0
        } else if state.cooldownCounter == 0 {
            state.wait += 1
            // Keras compares the float32 rate with float32(min_lr).
            if state.wait >= patience, Float(learningRate) > Float(minLearningRate) {
                state.cooldownCounter = cooldown
                state.wait = 0
                return max(learningRate * factor, minLearningRate)
            }
        }
        return nil
    }
}

/// The spec's `callbacks`: at most one of each kind.
public struct CallbackSpecs: Equatable, Sendable {
    /// Keras' `EarlyStopping`, if the spec asks for it.
    public var earlyStopping: EarlyStopping?
    /// Keras' `ReduceLROnPlateau`, if the spec asks for it.
    public var reduceLROnPlateau: ReduceLROnPlateau?

    /// No callbacks.
    public init() {}

    /// True when the spec asks for no callback.
    public var isEmpty: Bool { earlyStopping == nil && reduceLROnPlateau == nil }

    static let typeNames = ["early_stopping", "reduce_lr_on_plateau"]

    init(json value: JSONValue?, validationSplit: Double, learningRate: LearningRate) throws(ConfigError) {
        guard let value else { return }
        guard case let .array(items) = value else {
            throw ConfigError(path: "callbacks", message: "expected an array of callback objects, got \(value.kindDescription)")
        }
        for (index, item) in items.enumerated() {
            let path = "callbacks[\(index)]"
            guard case let .string(type)? = item["type"] else {
                throw ConfigError(path: path + ".type", message: "missing; expected one of \(CallbackSpecs.typeNames.joined(separator: ", "))")
            }
            switch type {
            case "early_stopping":
                guard earlyStopping == nil else { throw ConfigError(path: path, message: "a second early_stopping; give one") }
                let o = try SpecObject(item, path: path, allowedKeys: ["type", "monitor", "min_delta", "patience", "mode", "baseline",
                                                                       "restore_best_weights", "start_from_epoch"])
                var callback = EarlyStopping()
                callback.monitor = try Monitor.parse(o, minDeltaDefault: 0)
                callback.patience = try o.integer("patience", default: 0, expected: "a non-negative integer") { $0 >= 0 }
                callback.baseline = try o.optionalNumber("baseline", expected: "a number or null") { $0.isFinite }
                callback.restoreBestWeights = try o.bool("restore_best_weights", default: false)
                callback.startFromEpoch = try o.integer("start_from_epoch", default: 0, expected: "a non-negative integer") { $0 >= 0 }
                try CallbackSpecs.check(callback.monitor, path: path, validationSplit: validationSplit)
                earlyStopping = callback
            case "reduce_lr_on_plateau":
                guard reduceLROnPlateau == nil else { throw ConfigError(path: path, message: "a second reduce_lr_on_plateau; give one") }
                let o = try SpecObject(item, path: path, allowedKeys: ["type", "monitor", "factor", "patience", "mode", "min_delta",
                                                                       "cooldown", "min_lr"])
                var callback = ReduceLROnPlateau()
                callback.monitor = try Monitor.parse(o, minDeltaDefault: 1e-4)
                callback.factor = try o.number("factor", default: 0.1, expected: "a number between 0 and 1 (Keras refuses a factor >= 1)") { $0 > 0 && $0 < 1 }
                callback.patience = try o.integer("patience", default: 10, expected: "a non-negative integer") { $0 >= 0 }
                callback.cooldown = try o.integer("cooldown", default: 0, expected: "a non-negative integer") { $0 >= 0 }
                callback.minLearningRate = try o.number("min_lr", default: 0, expected: "a non-negative number") { $0 >= 0 && $0.isFinite }
                try CallbackSpecs.check(callback.monitor, path: path, validationSplit: validationSplit)
                if learningRate.isSchedule {
                    throw ConfigError(path: path, message: "needs a constant optimizer.learning_rate, not a schedule (Keras cannot set a scheduled rate either)")
                }
                reduceLROnPlateau = callback
            default:
                let suggestion = nearest(type, in: CallbackSpecs.typeNames).map { "did you mean \"\($0)\"? " } ?? ""
                throw ConfigError(path: path + ".type", message: "unknown callback \"\(type)\"; \(suggestion)expected one of \(CallbackSpecs.typeNames.joined(separator: ", "))")
            }
        }
    }

    static func check(_ monitor: Monitor, path: String, validationSplit: Double) throws(ConfigError) {
        if monitor.quantity.needsValidation, validationSplit == 0 {
            throw ConfigError(path: path + ".monitor", message: "\(monitor.quantity.rawValue) needs a validation_split in the spec (or monitor loss or accuracy)")
        }
    }

    /// The list with every default written out; nil when empty.
    var json: JSONValue? {
        guard !isEmpty else { return nil }
        var items = [JSONValue]()
        if let e = earlyStopping {
            items.append(.object([("type", .string("early_stopping"))] + e.monitor.arguments + [
                ("patience", .number(Double(e.patience))), ("baseline", e.baseline.map { .number($0) } ?? .null),
                ("restore_best_weights", .bool(e.restoreBestWeights)), ("start_from_epoch", .number(Double(e.startFromEpoch))),
            ]))
        }
        if let r = reduceLROnPlateau {
            items.append(.object([("type", .string("reduce_lr_on_plateau"))] + r.monitor.arguments + [
                ("factor", .number(r.factor)), ("patience", .number(Double(r.patience))), ("cooldown", .number(Double(r.cooldown))),
                ("min_lr", .number(r.minLearningRate)),
            ]))
        }
        return .array(items)
    }
}

/// What a callback did at the end of an epoch, for the tool to say.
public enum CallbackEvent: Equatable, Sendable {
    /// ReduceLROnPlateau lowered the rate.
    case reducedLearningRate(to: Double, monitor: String, epochsWithoutImprovement: Int)
    /// EarlyStopping ended training after `epoch` (1-based); `restoredEpoch`
    /// (1-based) when the best weights were restored.
    case stoppedEarly(epoch: Int, monitor: String, epochsWithoutImprovement: Int, restoredEpoch: Int?)
    /// Training ended without an early stop, and the best epoch's weights were restored.
    case restoredBestWeights(epoch: Int, monitor: String)
}
