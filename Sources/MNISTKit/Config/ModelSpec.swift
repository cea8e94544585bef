import Foundation

/// Keras' weight initialisers, by their Keras names.
public enum Initializer: String, CaseIterable, Sendable {
    case glorotUniform = "glorot_uniform", heUniform = "he_uniform", lecunUniform = "lecun_uniform", zeros, ones
}

/// The losses, by their Keras names.
public enum LossKind: String, CaseIterable, Sendable {
    case categoricalCrossentropy = "categorical_crossentropy"
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case meanSquaredError = "mean_squared_error"
}

/// An optimizer and its hyperparameters, with Keras' names and defaults. Each
/// kind reads only its own fields; every kind takes `weight_decay` (decoupled,
/// as Keras applies it) and one of `clipnorm`, `global_clipnorm`, `clipvalue`.
public struct OptimizerSpec: Equatable, Sendable {
    /// Keras' optimizers, by their Keras names.
    public enum Kind: String, CaseIterable, Sendable { case sgd, rmsprop, adagrad, adam, adamw, nadam }

    /// Which optimizer.
    public var kind: Kind
    /// A constant rate or a schedule of the step.
    public var learningRate: LearningRate
    /// sgd, rmsprop.
    public var momentum = 0.0
    /// sgd.
    public var nesterov = false
    /// rmsprop.
    public var rho = 0.9
    /// RMSprop: normalise by the centred second moment (the variance) instead of the raw one.
    public var centered = false
    /// adagrad.
    public var initialAccumulatorValue = 0.1
    /// adam, adamw, nadam.
    public var beta1 = 0.9
    /// Adam's decay rate for the second moment.
    public var beta2 = 0.999
    /// Added to denominators for stability (Keras' default, 1e-7).
    public var epsilon = 1e-7
    /// Decoupled weight decay applied before each update (AdamW's 0.004 by default; nil: none).
    public var weightDecay: Double?
    /// Clips each variable's gradient to this L2 norm (nil: no clipping).
    public var clipnorm: Double?
    /// Clips all gradients together to this global L2 norm (nil: no clipping).
    public var globalClipnorm: Double?
    /// Clips each gradient value into [-clipvalue, clipvalue] (nil: no clipping).
    public var clipvalue: Double?

    /// An optimizer of `kind` with every other argument at Keras' default.
    public init(kind: Kind, learningRate: LearningRate) {
        self.kind = kind
        self.learningRate = learningRate
    }

    /// The `kind` optimizer as Keras constructs it with no arguments.
    public static func defaults(_ kind: Kind) -> OptimizerSpec {
        var spec = OptimizerSpec(kind: kind, learningRate: .constant(kind == .sgd ? 0.01 : 0.001))
        if kind == .adamw { spec.weightDecay = 0.004 }
        return spec
    }

    /// SGD with the given rate and momentum (`nesterov`: Nesterov's variant).
    public static func sgd(learningRate: Double, momentum: Double, nesterov: Bool) -> OptimizerSpec {
        var spec = defaults(.sgd)
        (spec.learningRate, spec.momentum, spec.nesterov) = (.constant(learningRate), momentum, nesterov)
        return spec
    }

    /// RMSprop with the given arguments.
    public static func rmsprop(learningRate: Double, rho: Double, momentum: Double, epsilon: Double, centered: Bool) -> OptimizerSpec {
        var spec = defaults(.rmsprop)
        (spec.learningRate, spec.rho, spec.momentum, spec.epsilon, spec.centered) = (.constant(learningRate), rho, momentum, epsilon, centered)
        return spec
    }

    /// Adagrad with the given arguments.
    public static func adagrad(learningRate: Double, initialAccumulatorValue: Double, epsilon: Double) -> OptimizerSpec {
        var spec = defaults(.adagrad)
        (spec.learningRate, spec.initialAccumulatorValue, spec.epsilon) = (.constant(learningRate), initialAccumulatorValue, epsilon)
        return spec
    }

    /// Adam with the given arguments.
    public static func adam(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double) -> OptimizerSpec {
        var spec = defaults(.adam)
        (spec.learningRate, spec.beta1, spec.beta2, spec.epsilon) = (.constant(learningRate), beta1, beta2, epsilon)
        return spec
    }

    /// The kind's own arguments, as Keras names them.
    var kindArguments: [(key: String, value: JSONValue)] {
        switch kind {
        case .sgd: return [("momentum", .number(momentum)), ("nesterov", .bool(nesterov))]
        case .rmsprop: return [("rho", .number(rho)), ("momentum", .number(momentum)), ("epsilon", .number(epsilon)), ("centered", .bool(centered))]
        case .adagrad: return [("initial_accumulator_value", .number(initialAccumulatorValue)), ("epsilon", .number(epsilon))]
        case .adam, .adamw, .nadam: return [("beta_1", .number(beta1)), ("beta_2", .number(beta2)), ("epsilon", .number(epsilon))]
        }
    }

    static let commonKeys = ["type", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue"]

    /// The optimizer as the spec's `optimizer` object, every argument written out.
    public var json: JSONValue {
        func optional(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
        return .object([("type", .string(kind.rawValue)), ("learning_rate", learningRate.json)] + kindArguments + [
            ("weight_decay", optional(weightDecay)), ("clipnorm", optional(clipnorm)),
            ("global_clipnorm", optional(globalClipnorm)), ("clipvalue", optional(clipvalue)),
        ])
    }

    init(json value: JSONValue?) throws(ConfigError) {
        guard let value else { self = .defaults(.rmsprop); return }
        let names = Kind.allCases.map(\.rawValue).joined(separator: ", ")
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
        guard let kind = Kind(rawValue: kindName) else {
            let path = value["type"] == nil ? "optimizer" : "optimizer.type"
            let suggestion = nearest(kindName, in: Kind.allCases.map(\.rawValue)).map { "did you mean \"\($0)\"? " } ?? ""
            throw ConfigError(path: path, message: "unknown optimizer \"\(kindName)\"; \(suggestion)expected one of \(names)")
        }
        self = .defaults(kind)
        guard case .object = value else { return }
        let o = try SpecObject(value, path: "optimizer", allowedKeys: OptimizerSpec.commonKeys + kindArguments.map(\.key))
        let positive = "a positive number", unit = "a number from 0 up to (not including) 1"
        if let rate = o.value("learning_rate") { learningRate = try LearningRate(json: rate, path: "optimizer.learning_rate") }
        momentum = try o.number("momentum", default: momentum, expected: unit) { $0 >= 0 && $0 < 1 }
        nesterov = try o.bool("nesterov", default: nesterov)
        rho = try o.number("rho", default: rho, expected: unit) { $0 >= 0 && $0 < 1 }
        centered = try o.bool("centered", default: centered)
        initialAccumulatorValue = try o.number("initial_accumulator_value", default: initialAccumulatorValue, expected: "a non-negative number") { $0 >= 0 }
        beta1 = try o.number("beta_1", default: beta1, expected: unit) { $0 >= 0 && $0 < 1 }
        beta2 = try o.number("beta_2", default: beta2, expected: unit) { $0 >= 0 && $0 < 1 }
        epsilon = try o.number("epsilon", default: epsilon, expected: positive) { $0 > 0 }
        if o.has("weight_decay") { weightDecay = try o.optionalNumber("weight_decay", expected: "a non-negative number or null") { $0 >= 0 && $0.isFinite } }
        clipnorm = try o.optionalNumber("clipnorm", expected: "a positive number or null") { $0 > 0 && $0.isFinite }
        globalClipnorm = try o.optionalNumber("global_clipnorm", expected: "a positive number or null") { $0 > 0 && $0.isFinite }
        clipvalue = try o.optionalNumber("clipvalue", expected: "a positive number or null") { $0 > 0 && $0.isFinite }
        let clips = [("clipnorm", clipnorm), ("global_clipnorm", globalClipnorm), ("clipvalue", clipvalue)].filter { $0.1 != nil }
        if clips.count > 1 {
            throw ConfigError(path: "optimizer.\(clips[1].0)", message: "only one of clipnorm, global_clipnorm and clipvalue can be set (as in Keras); \(clips[0].0) is set too")
        }
    }
}

/// A model and how to train it: the JSON config with every default filled in.
public struct ModelSpec: Equatable, Sendable {
    /// The newest spec `version` this build reads.
    public static let newestVersion = 1

    /// The spec format's version.
    public var version = ModelSpec.newestVersion
    /// The model's name, used in titles and summaries.
    public var name = "model"
    /// The dataset to train on, looked up by name (`fashion-mnist`, `mnist`, `emnist-letters`, ...).
    public var dataset = "fashion-mnist"
    /// The shape of one sample as the first layer receives it, without the batch axis.
    public var inputShape = [28, 28]
    /// The layers, in order.
    public var layers: [LayerSpec]
    /// The loss the model is trained on.
    public var loss: LossKind
    /// Keras' `label_smoothing` for categorical_crossentropy: targets (1 - s)·onehot + s/C.
    public var labelSmoothing = 0.0
    /// The optimizer and its arguments (RMSprop by default, as in Keras' MNIST examples).
    public var optimizer = OptimizerSpec.defaults(.rmsprop)
    /// The metrics reported besides the loss (only "accuracy").
    public var metrics = ["accuracy"]
    /// Epochs to train (0: none, for `--init` weights).
    public var epochs = 1
    /// Samples per training batch.
    public var batchSize = 32
    /// The fraction of the training split held out for validation (a seeded random subset).
    public var validationSplit = 0.0
    /// Reshuffle the training samples every epoch.
    public var shuffle = true
    /// The seed of every random stream: initialisation, shuffling, dropout, augmentation.
    public var seed: UInt64 = 1
    /// Early stopping and learning-rate reduction on plateaus.
    public var callbacks = CallbackSpecs()
    /// The class count; nil: the training split's largest class + 1.
    public var classes: Int?
    /// Subtracted from every label (EMNIST letters label their classes 1...26).
    public var labelOffset = 0
    /// One name per class; nil: `class_names.txt` beside the data, a known
    /// dataset's names, or the label numbers.
    public var classNames: [String]?
    /// (height, width) every picture of an image-folder dataset is resized to
    /// (area averaging); nil: read at their own size, which must be one size.
    public var imageSize: [Int]?
    /// How pictures of an image-folder dataset are turned into samples.
    public var prepare = ImagePreparation.asIs

    /// A spec with `layers` and `loss`, every other field at its default.
    public init(layers: [LayerSpec], loss: LossKind) {
        self.layers = layers
        self.loss = loss
    }

    static let topKeys = ["version", "name", "dataset", "input_shape", "layers", "loss", "optimizer", "metrics",
                          "epochs", "batch_size", "validation_split", "shuffle", "seed", "callbacks",
                          "classes", "label_offset", "class_names", "image_size", "prepare"]

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

    /// Parses and checks a spec from JSON text.
    public static func parse(_ text: String) throws(ConfigError) -> ModelSpec { try parse(Array(text.utf8)) }

    /// Parses and checks a spec from UTF-8 JSON bytes: our spec, or a Keras
    /// model's JSON (`model.to_json()`, a `.keras` file's `config.json`).
    public static func parse(_ bytes: [UInt8]) throws(ConfigError) -> ModelSpec {
        var json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw ConfigError(path: "", message: error.description) }
        if KerasModelJSON.isKerasModel(json) { json = try KerasModelJSON.specJSON(json) }
        return try ModelSpec(json: json)
    }

    /// Reads and checks a spec from parsed JSON; errors name the JSON path.
    public init(json: JSONValue) throws(ConfigError) {
        let root = try SpecObject(json, path: "", allowedKeys: ModelSpec.topKeys)
        version = try root.integer("version", default: ModelSpec.newestVersion, expected: "a positive integer")
        guard version <= ModelSpec.newestVersion else {
            throw ConfigError(path: "version", message: "\(version) is newer than the newest version this MNISTKit (\(toolVersion)) reads, \(ModelSpec.newestVersion)")
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
        if case .object = root.value("loss") {
            // {"type": "categorical_crossentropy", "label_smoothing": 0.1}
            let o = try SpecObject(root.value("loss")!, path: "loss", allowedKeys: ["type", "label_smoothing"])
            loss = try o.choice("type", default: nil, noun: "loss")
            labelSmoothing = try o.number("label_smoothing", default: 0, expected: "a number from 0 to 1") { $0 >= 0 && $0 <= 1 }
            if labelSmoothing > 0, loss != .categoricalCrossentropy {
                throw ConfigError(path: "loss.label_smoothing", message: "Keras' \(loss.rawValue) has no label smoothing; use categorical_crossentropy")
            }
        } else {
            loss = try root.choice("loss", default: nil, noun: "loss")
        }
        optimizer = try OptimizerSpec(json: root.value("optimizer"))
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
        // 0 trains nothing (a model from --init, evaluated and saved as it is).
        epochs = try root.integer("epochs", default: 1, expected: "a non-negative integer") { $0 >= 0 }
        batchSize = try root.integer("batch_size", default: 32)
        validationSplit = try root.number("validation_split", default: 0, expected: "a number from 0 up to (not including) 1") { $0 >= 0 && $0 < 1 }
        shuffle = try root.bool("shuffle", default: true)
        seed = UInt64(try root.integer("seed", default: 1, expected: "a non-negative integer") { $0 >= 0 })
        callbacks = try CallbackSpecs(json: root.value("callbacks"), validationSplit: validationSplit, learningRate: optimizer.learningRate)
        if root.has("classes") { classes = try root.integer("classes", default: nil, expected: "an integer from 2 to 256") { $0 >= 2 && $0 <= 256 } }
        labelOffset = try root.integer("label_offset", default: 0, expected: "an integer from 0 to 255") { $0 >= 0 && $0 <= 255 }
        if let names = root.value("class_names") {
            guard case let .array(items) = names, !items.isEmpty, items.count <= 256 else {
                throw ConfigError(path: "class_names", message: "expected an array of 1 to 256 class names, got \(names.kindDescription)")
            }
            classNames = try items.enumerated().map { index, item throws(ConfigError) in
                guard case let .string(name) = item, !name.isEmpty, !name.contains("\n") else {
                    throw ConfigError(path: "class_names[\(index)]", message: "expected a non-empty one-line name, got \(item.kindDescription)")
                }
                return name
            }
            if let classes, classNames!.count != classes {
                throw ConfigError(path: "class_names", message: "has \(classNames!.count) names for the \(classes) classes of \"classes\"")
            }
        }
        if let size = root.value("image_size") {
            guard case let .array(items) = size, items.count == 2 else {
                throw ConfigError(path: "image_size", message: "expected [height, width], got \(size.kindDescription)")
            }
            imageSize = try items.enumerated().map { index, item throws(ConfigError) in
                guard case let .number(n) = item, n == n.rounded(), n >= 1, n <= Double(ImageLimits.maximumSide) else {
                    throw ConfigError(path: "image_size[\(index)]", message: "expected an integer from 1 to \(ImageLimits.maximumSide), got \(item.kindDescription)")
                }
                return Int(n)
            }
        }
        prepare = try root.choice("prepare", default: .asIs, noun: "image preparation")
    }

    /// The resolved spec as JSON, every default written out; parsing it gives this spec back.
    public var json: JSONValue {
        let lossJSON: JSONValue = labelSmoothing > 0
            ? .object([("type", .string(loss.rawValue)), ("label_smoothing", .number(labelSmoothing))]) : .string(loss.rawValue)
        var members: [(key: String, value: JSONValue)] = [
            ("version", .number(Double(version))),
            ("name", .string(name)),
            ("dataset", .string(dataset)),
            ("input_shape", .array(inputShape.map { .number(Double($0)) })),
            ("layers", .array(layers.map(\.json))),
            ("loss", lossJSON),
            ("optimizer", optimizer.json),
            ("metrics", .array(metrics.map { .string($0) })),
            ("epochs", .number(Double(epochs))),
            ("batch_size", .number(Double(batchSize))),
            ("validation_split", .number(validationSplit)),
            ("shuffle", .bool(shuffle)),
            ("seed", .number(Double(seed))),
        ]
        if let callbacks = callbacks.json { members.append(("callbacks", callbacks)) }
        if let classes { members.append(("classes", .number(Double(classes)))) }
        if labelOffset != 0 { members.append(("label_offset", .number(Double(labelOffset)))) }
        if let classNames { members.append(("class_names", .array(classNames.map { .string($0) }))) }
        if let imageSize { members.append(("image_size", .array(imageSize.map { .number(Double($0)) }))) }
        if prepare != .asIs { members.append(("prepare", .string(prepare.rawValue))) }
        return .object(members)
    }
}
