import Foundation

public enum Activation: String, CaseIterable, Sendable {
    case relu, sigmoid, softmax, tanh, linear
}

public enum Initializer: String, CaseIterable, Sendable {
    case glorotUniform = "glorot_uniform", heUniform = "he_uniform", lecunUniform = "lecun_uniform", zeros, ones
}

public enum LossKind: String, CaseIterable, Sendable {
    case categoricalCrossentropy = "categorical_crossentropy"
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case meanSquaredError = "mean_squared_error"
}

/// Optimizers and their hyperparameters, with Keras' defaults.
public enum OptimizerSpec: Equatable, Sendable {
    case sgd(learningRate: Double, momentum: Double, nesterov: Bool)
    case rmsprop(learningRate: Double, rho: Double, momentum: Double, epsilon: Double, centered: Bool)
    case adagrad(learningRate: Double, initialAccumulatorValue: Double, epsilon: Double)
    case adam(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double)

    public enum Kind: String, CaseIterable, Sendable { case sgd, rmsprop, adagrad, adam }

    public static func defaults(_ kind: Kind) -> OptimizerSpec {
        switch kind {
        case .sgd: return .sgd(learningRate: 0.01, momentum: 0, nesterov: false)
        case .rmsprop: return .rmsprop(learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false)
        case .adagrad: return .adagrad(learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7)
        case .adam: return .adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
        }
    }

    public var kind: Kind {
        switch self {
        case .sgd: return .sgd
        case .rmsprop: return .rmsprop
        case .adagrad: return .adagrad
        case .adam: return .adam
        }
    }
}

/// A model and how to train it: the JSON config with every default filled in.
public struct ModelSpec: Equatable, Sendable {
    public static let newestVersion = 1

    public var version = ModelSpec.newestVersion
    public var name = "model"
    public var dataset = "fashion-mnist"
    public var inputShape = [28, 28]
    public var layers: [LayerSpec]
    public var loss: LossKind
    public var optimizer = OptimizerSpec.defaults(.rmsprop)
    public var metrics = ["accuracy"]
    public var epochs = 1
    public var batchSize = 32
    public var validationSplit = 0.0
    public var shuffle = true
    public var seed: UInt64 = 1

    public init(layers: [LayerSpec], loss: LossKind) {
        self.layers = layers
        self.loss = loss
    }

    static let topKeys = ["version", "name", "dataset", "input_shape", "layers", "loss", "optimizer", "metrics",
                          "epochs", "batch_size", "validation_split", "shuffle", "seed"]

    /// Reads a spec file. A bare name (no "/") that is not a file here is looked
    /// up in each of `searchDirectories` in turn (`configs/`, then the configs
    /// installed beside the tools); if none has it, the error lists where it looked.
    public static func load(path: String, searchDirectories: [String] = ["configs"]) throws(ConfigError) -> ModelSpec {
        var resolved = path
        var searched = [path]
        if !FileManager.default.fileExists(atPath: path), !path.contains("/") {
            searched += searchDirectories.map { "\($0)/\(path)" }
            resolved = searched.dropFirst().first { FileManager.default.fileExists(atPath: $0) } ?? path
        }
        let bytes: [UInt8]
        do {
            let file = try FileSource(path: resolved)
            bytes = try file.read(upTo: min(file.size, 1 << 20) + 1)
            guard bytes.count <= 1 << 20 else { throw FileProblem.system("larger than 1 MiB; a model spec is a small JSON file") }
        } catch let problem as FileProblem {
            let looked = problem == .notFound && searched.count > 1 ? "; looked in: \(searched.joined(separator: ", "))" : ""
            throw ConfigError(file: path, path: "", message: problem.description + looked, isMissingFile: problem == .notFound)
        } catch {
            throw ConfigError(file: path, path: "", message: "\(error)")
        }
        do {
            return try parse(bytes)
        } catch var error {
            error.file = resolved
            throw error
        }
    }

    public static func parse(_ text: String) throws(ConfigError) -> ModelSpec { try parse(Array(text.utf8)) }

    public static func parse(_ bytes: [UInt8]) throws(ConfigError) -> ModelSpec {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw ConfigError(path: "", message: error.description) }
        return try ModelSpec(json: json)
    }

    public init(json: JSONValue) throws(ConfigError) {
        let root = try SpecObject(json, path: "", allowedKeys: ModelSpec.topKeys)
        version = try root.integer("version", default: ModelSpec.newestVersion, expected: "a positive integer")
        guard version <= ModelSpec.newestVersion else {
            throw ConfigError(path: "version", message: "\(version) is newer than the newest supported version \(ModelSpec.newestVersion); upgrade mnist-train")
        }
        name = try root.string("name", default: "model")
        dataset = try root.string("dataset", default: "fashion-mnist")
        if let shape = root.value("input_shape") {
            guard case let .array(items) = shape, (1 ... 3).contains(items.count) else {
                throw ConfigError(path: "input_shape", message: "expected an array of 1 to 3 positive integers, got \(shape.kindDescription)")
            }
            inputShape = try items.enumerated().map { index, item throws(ConfigError) in
                guard case let .number(n) = item, n == n.rounded(), n >= 1, n <= 65_536 else {
                    throw ConfigError(path: "input_shape[\(index)]", message: "expected a positive integer, got \(item.kindDescription)")
                }
                return Int(n)
            }
        }
        guard let layerList = root.value("layers") else { throw root.missing("layers", "an array of layer objects") }
        guard case let .array(layerItems) = layerList, !layerItems.isEmpty else {
            throw ConfigError(path: "layers", message: "expected a non-empty array of layer objects, got \(layerList.kindDescription)")
        }
        layers = try layerItems.enumerated().map { index, item throws(ConfigError) in try LayerSpec(json: item, path: "layers[\(index)]") }
        loss = try root.choice("loss", default: nil, noun: "loss")
        optimizer = try ModelSpec.optimizer(root.value("optimizer"))
        if let metricList = root.value("metrics") {
            guard case let .array(items) = metricList else {
                throw ConfigError(path: "metrics", message: "expected an array of metric names, got \(metricList.kindDescription)")
            }
            metrics = try items.enumerated().map { index, item throws(ConfigError) in
                guard case .string("accuracy") = item else {
                    throw ConfigError(path: "metrics[\(index)]", message: "unknown metric \(item.kindDescription); expected one of accuracy")
                }
                return "accuracy"
            }
        }
        epochs = try root.integer("epochs", default: 1)
        batchSize = try root.integer("batch_size", default: 32)
        validationSplit = try root.number("validation_split", default: 0, expected: "a number from 0 up to (not including) 1") { $0 >= 0 && $0 < 1 }
        shuffle = try root.bool("shuffle", default: true)
        seed = UInt64(try root.integer("seed", default: 1, expected: "a non-negative integer") { $0 >= 0 })
    }

    static func optimizer(_ value: JSONValue?) throws(ConfigError) -> OptimizerSpec {
        guard let value else { return .defaults(.rmsprop) }
        let names = OptimizerSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        let kindName: String
        switch value {
        case let .string(name): kindName = name
        case let .object(members):
            guard case let .string(name)? = members.first(where: { $0.key == "type" })?.value else {
                throw ConfigError(path: "optimizer.type", message: "missing; expected one of \(names)")
            }
            kindName = name
        default:
            throw ConfigError(path: "optimizer", message: "expected an optimizer name or object, got \(value.kindDescription)")
        }
        guard let kind = OptimizerSpec.Kind(rawValue: kindName) else {
            let path = value["type"] == nil ? "optimizer" : "optimizer.type"
            throw ConfigError(path: path, message: "unknown optimizer \"\(kindName)\"; expected one of \(names)")
        }
        guard case .object = value else { return .defaults(kind) }
        let positive = "a positive number"
        let unit = "a number from 0 up to (not including) 1"
        switch OptimizerSpec.defaults(kind) {
        case let .sgd(learningRate, momentum, nesterov):
            let o = try SpecObject(value, path: "optimizer", allowedKeys: ["type", "learning_rate", "momentum", "nesterov"])
            return .sgd(learningRate: try o.number("learning_rate", default: learningRate, expected: positive) { $0 > 0 },
                        momentum: try o.number("momentum", default: momentum, expected: unit) { $0 >= 0 && $0 < 1 },
                        nesterov: try o.bool("nesterov", default: nesterov))
        case let .rmsprop(learningRate, rho, momentum, epsilon, centered):
            let o = try SpecObject(value, path: "optimizer", allowedKeys: ["type", "learning_rate", "rho", "momentum", "epsilon", "centered"])
            return .rmsprop(learningRate: try o.number("learning_rate", default: learningRate, expected: positive) { $0 > 0 },
                            rho: try o.number("rho", default: rho, expected: unit) { $0 >= 0 && $0 < 1 },
                            momentum: try o.number("momentum", default: momentum, expected: unit) { $0 >= 0 && $0 < 1 },
                            epsilon: try o.number("epsilon", default: epsilon, expected: positive) { $0 > 0 },
                            centered: try o.bool("centered", default: centered))
        case let .adagrad(learningRate, initial, epsilon):
            let o = try SpecObject(value, path: "optimizer", allowedKeys: ["type", "learning_rate", "initial_accumulator_value", "epsilon"])
            return .adagrad(learningRate: try o.number("learning_rate", default: learningRate, expected: positive) { $0 > 0 },
                            initialAccumulatorValue: try o.number("initial_accumulator_value", default: initial, expected: "a non-negative number") { $0 >= 0 },
                            epsilon: try o.number("epsilon", default: epsilon, expected: positive) { $0 > 0 })
        case let .adam(learningRate, beta1, beta2, epsilon):
            let o = try SpecObject(value, path: "optimizer", allowedKeys: ["type", "learning_rate", "beta_1", "beta_2", "epsilon"])
            return .adam(learningRate: try o.number("learning_rate", default: learningRate, expected: positive) { $0 > 0 },
                         beta1: try o.number("beta_1", default: beta1, expected: unit) { $0 >= 0 && $0 < 1 },
                         beta2: try o.number("beta_2", default: beta2, expected: unit) { $0 >= 0 && $0 < 1 },
                         epsilon: try o.number("epsilon", default: epsilon, expected: positive) { $0 > 0 })
        }
    }

    /// The resolved spec as JSON, every default written out; parsing it gives this spec back.
    public var json: JSONValue {
        .object([
            ("version", .number(Double(version))),
            ("name", .string(name)),
            ("dataset", .string(dataset)),
            ("input_shape", .array(inputShape.map { .number(Double($0)) })),
            ("layers", .array(layers.map(\.json))),
            ("loss", .string(loss.rawValue)),
            ("optimizer", optimizer.json),
            ("metrics", .array(metrics.map { .string($0) })),
            ("epochs", .number(Double(epochs))),
            ("batch_size", .number(Double(batchSize))),
            ("validation_split", .number(validationSplit)),
            ("shuffle", .bool(shuffle)),
            ("seed", .number(Double(seed))),
        ])
    }
}

extension OptimizerSpec {
    public var json: JSONValue {
        switch self {
        case let .sgd(learningRate, momentum, nesterov):
            return .object([("type", .string("sgd")), ("learning_rate", .number(learningRate)), ("momentum", .number(momentum)),
                            ("nesterov", .bool(nesterov))])
        case let .rmsprop(learningRate, rho, momentum, epsilon, centered):
            return .object([("type", .string("rmsprop")), ("learning_rate", .number(learningRate)), ("rho", .number(rho)),
                            ("momentum", .number(momentum)), ("epsilon", .number(epsilon)), ("centered", .bool(centered))])
        case let .adagrad(learningRate, initial, epsilon):
            return .object([("type", .string("adagrad")), ("learning_rate", .number(learningRate)),
                            ("initial_accumulator_value", .number(initial)), ("epsilon", .number(epsilon))])
        case let .adam(learningRate, beta1, beta2, epsilon):
            return .object([("type", .string("adam")), ("learning_rate", .number(learningRate)), ("beta_1", .number(beta1)),
                            ("beta_2", .number(beta2)), ("epsilon", .number(epsilon))])
        }
    }
}
