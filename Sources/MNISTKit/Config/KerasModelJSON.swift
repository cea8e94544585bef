// Keras 3's model JSON (`model.to_json()`, or the `config.json` of a `.keras`
// file) read as a spec: each layer's `class_name` and `config` become our layer
// and arguments (the spec's names are Keras' own), `compile_config` the loss and
// optimizer. What cannot be honoured is an error naming the layer and the
// argument, never dropped; keys that do not change the math are accepted.

/// Translates a Keras model document into the spec JSON that means the same model.
enum KerasModelJSON {
    /// A Keras model document: a `class_name` and a `config` at the top, which no spec has.
    static func isKerasModel(_ json: JSONValue) -> Bool {
        json["class_name"] != nil && json["config"] != nil
    }

    /// The spec JSON of a Keras `Sequential` or `Functional` model. Errors name
    /// Keras' path: `layers[3] (Conv2D): kernel_regularizer is not supported`.
    static func specJSON(_ model: JSONValue) throws(ConfigError) -> JSONValue {
        guard case let .string(modelClass)? = model["class_name"], ["Sequential", "Functional", "Model"].contains(modelClass) else {
            throw ConfigError(path: "class_name", message: "expected a Keras Sequential or Functional model, got \(model["class_name"]!.kindDescription)")
        }
        guard case let .object(config)? = model["config"] else {
            throw ConfigError(path: "config", message: "expected an object, got \(model["config"]!.kindDescription)")
        }
        let configValue = JSONValue.object(config)
        guard case let .array(kerasLayers)? = configValue["layers"], !kerasLayers.isEmpty else {
            throw ConfigError(path: "config.layers", message: "expected a non-empty array of layers")
        }
        let isSequential = modelClass == "Sequential"
        var inputShape: JSONValue?
        var inputName: String?
        var layers: [JSONValue] = []
        for (index, kerasLayer) in kerasLayers.enumerated() {
            let path = "layers[\(index)]"
            guard case let .string(className)? = kerasLayer["class_name"], case let .object(members)? = kerasLayer["config"] else {
                throw ConfigError(path: path, message: "expected a Keras layer object with class_name and config")
            }
            let layerPath = "\(path) (\(className))"
            let layerConfig = JSONValue.object(members)
            if className == "InputLayer" {
                guard inputShape == nil else { throw ConfigError(path: layerPath, message: "a second input is not supported; models here take one image") }
                inputShape = try shape(batchShape: layerConfig["batch_shape"] ?? layerConfig["batch_input_shape"], path: layerPath)
                inputName = layerConfig.string("name")
                continue
            }
            var layer = try translateLayer(className: className, config: layerConfig, path: layerPath)
            if !isSequential {
                layer.append(("inputs", .array(try inboundNames(kerasLayer, path: layerPath, inputName: inputName).map { .string($0) })))
            }
            layers.append(.object(layer))
        }
        if inputShape == nil {
            inputShape = try shape(batchShape: configValue["build_input_shape"] ?? model["build_config"]?["input_shape"], path: "config")
        }
        if !isSequential { try checkOutput(configValue, layers: layers) }

        var spec: [(key: String, value: JSONValue)] = [("version", .number(1))]
        if let name = configValue.string("name") { spec.append(("name", .string(name))) }
        spec += [("input_shape", inputShape!), ("layers", .array(layers))]
        guard let compile = model["compile_config"], compile != .null else {
            throw ConfigError(path: "compile_config", message: "missing; compile the model in Keras before to_json() so that its loss and optimizer come with it")
        }
        spec += try compileArguments(compile)
        return .object(spec)
    }

    // MARK: Layers

    /// Keras classes that are one of our activation layers with their defaults.
    static let activationClasses: [String: (activation: String, neutral: [String: JSONValue])] = [
        "ReLU": ("relu", ["max_value": .null, "negative_slope": .number(0), "threshold": .number(0)]),
        "LeakyReLU": ("leaky_relu", ["negative_slope": .number(0.2)]),
        "ELU": ("elu", ["alpha": .number(1)]),
        "Softmax": ("softmax", ["axis": .number(-1)]),
    ]

    /// Keys of a layer's config that never change the math, whatever their value.
    static let ignoredKeys: Set<String> = ["name", "seed", "build_config", "registered_name", "module"]

    /// Keys we do not have as arguments, accepted only with the value that changes nothing.
    static let neutralValues: [String: [JSONValue]] = [
        "dilation_rate": [.number(1), .array([.number(1), .number(1)])],
        "groups": [.number(1)],
        "noise_shape": [.null],
        "synchronized": [.bool(false)],
        "renorm": [.bool(false)], "renorm_clipping": [.null],
        "rms_scaling": [.bool(false)],
        "keepdims": [.bool(false)],
        "quantization_config": [.null], "lora_rank": [.null],
        "data_format": [.string("channels_last")],
        "sparse": [.bool(false)], "ragged": [.bool(false)], "optional": [.bool(false)],
    ]

    /// One Keras layer as our layer object: `type`, `name`, arguments.
    static func translateLayer(className: String, config: JSONValue, path: String) throws(ConfigError) -> [(key: String, value: JSONValue)] {
        guard case let .object(members) = config else { throw ConfigError(path: path, message: "config: expected an object") }
        var out: [(key: String, value: JSONValue)]
        var argumentNames: [String]
        var neutral = neutralValues
        if let type = layerTypes.first(where: { $0.kerasClassName == className }) {
            out = [("type", .string(type.typeName))]
            argumentNames = type.argumentNames
            if className == "BatchNormalization" { neutral["axis"] = [.number(-1), .number(3)] }  // ours: the channels, last
        } else if let activation = activationClasses[className] {
            out = [("type", .string(activation.activation))]
            argumentNames = []
            for (key, value) in activation.neutral { neutral[key] = [value] }
        } else {
            let hint = className == "Rescaling" ? ": mnist-train feeds every model images already scaled to [0, 1]" : ""
            throw ConfigError(path: path, message: "the Keras layer \(className) is not supported\(hint); supported: "
                + (layerTypes.map { $0.kerasClassName } + activationClasses.keys.sorted()).joined(separator: ", "))
        }
        for (key, value) in members {
            switch key {
            case "trainable":
                guard value == .bool(true) else { throw ConfigError(path: path, message: "trainable \(value.kindDescription) (a frozen layer) is not supported") }
            case "dtype":
                let name = value.string("name") ?? value["config"]?.string("name") ?? value.stringValue
                guard value == .null || name == "float32" else {
                    throw ConfigError(path: path, message: "dtype \(name.map { "\"\($0)\"" } ?? value.kindDescription) is not supported; mnist-train computes in float32")
                }
            case _ where ignoredKeys.contains(key):
                if key == "name", let name = value.stringValue { out.append(("name", .string(name))) }
            case _ where argumentNames.contains(key):
                out.append((key, try argumentValue(key: key, value: value, path: path)))
            case _ where key.hasSuffix("_regularizer"):
                guard isZeroRegularizer(value) else { throw ConfigError(path: path, message: "\(key) is not supported") }
            case _ where key.hasSuffix("_constraint"):
                guard value == .null else { throw ConfigError(path: path, message: "\(key) is not supported") }
            case "beta_initializer", "moving_mean_initializer":
                guard initializerName(value) == "zeros" else { throw ConfigError(path: path, message: "\(key) other than zeros is not supported") }
            case "gamma_initializer", "moving_variance_initializer":
                guard initializerName(value) == "ones" else { throw ConfigError(path: path, message: "\(key) other than ones is not supported") }
            case "renorm_momentum":
                break  // read only with renorm, which must be false
            default:
                guard let values = neutral[key] else { throw ConfigError(path: path, message: "\(key) is not supported") }
                guard values.contains(value) else { throw ConfigError(path: path, message: "\(key) \(value.serialized) is not supported; only \(values[0].serialized)") }
            }
        }
        // Our parser checks the values themselves and names the argument.
        _ = try LayerSpec(json: .object(out), path: path)
        return out
    }

    /// An argument's value in our form: initializers by name, the rest as Keras writes them.
    static func argumentValue(key: String, value: JSONValue, path: String) throws(ConfigError) -> JSONValue {
        // LayerNormalization writes its axis as a list; one axis is that axis.
        if key == "axis", let axes = value.arrayValue, axes.count == 1 { return axes[0] }
        guard key.hasSuffix("_initializer") else { return value }
        guard let name = initializerName(value) else { throw ConfigError(path: path, message: "\(key): expected a Keras initializer, got \(value.kindDescription)") }
        if case .object = value["config"] ?? .null {
            for (option, setting) in value["config"]!.members where option != "seed" && setting != .null {
                throw ConfigError(path: path, message: "\(key) \(value.string("class_name") ?? name) with \(option) \(setting.serialized) is not supported")
            }
        }
        return .string(name)
    }

    /// `GlorotUniform` (or `"glorot_uniform"`) as our initializer name, `glorot_uniform`.
    static func initializerName(_ value: JSONValue) -> String? {
        if let name = value.stringValue { return name }
        return value.string("class_name").map(Model.kerasSnakeCase)
    }

    /// A regularizer that adds nothing: none, or every factor 0.
    static func isZeroRegularizer(_ value: JSONValue) -> Bool {
        if value == .null { return true }
        guard case .object = value["config"] ?? .null else { return false }
        return value["config"]!.members.allSatisfy { $0.value == .number(0) }
    }

    /// The shape without the batch axis: `[null, 28, 28, 1]` is `[28, 28, 1]`.
    static func shape(batchShape: JSONValue?, path: String) throws(ConfigError) -> JSONValue {
        guard case let .array(items)? = batchShape, items.count >= 2 else {
            throw ConfigError(path: path, message: "no input shape; give the Keras model an input (keras.Input(shape=(28, 28, 1)))")
        }
        return .array(Array(items.dropFirst()))
    }

    /// The layers a functional layer reads, from its one inbound node; the
    /// model's input is `"input"`.
    static func inboundNames(_ layer: JSONValue, path: String, inputName: String?) throws(ConfigError) -> [String] {
        guard case let .array(nodes)? = layer["inbound_nodes"], !nodes.isEmpty else {
            throw ConfigError(path: path, message: "inbound_nodes: expected the node that calls the layer")
        }
        guard nodes.count == 1 else { throw ConfigError(path: path, message: "a layer called \(nodes.count) times (a shared layer) is not supported") }
        guard case let .array(arguments)? = nodes[0]["args"], arguments.count == 1 else {
            throw ConfigError(path: path, message: "inbound_nodes[0].args: expected one tensor or one list of tensors (Keras 3's form)")
        }
        // `training` is recorded from the symbolic call, and fit and evaluate set it anyway; a null mask is none.
        for (key, value) in nodes[0]["kwargs"]?.members ?? [] where key != "training" && !(key == "mask" && value == .null) {
            throw ConfigError(path: path, message: "calling the layer with \(key)=\(value.serialized) is not supported")
        }
        let tensors: [JSONValue]
        if case let .array(list) = arguments[0] { tensors = list } else { tensors = [arguments[0]] }
        return try tensors.map { tensor throws(ConfigError) in
            guard case let .array(history)? = tensor["config"]?["keras_history"], history.count == 3, let source = history[0].stringValue else {
                throw ConfigError(path: path, message: "inbound_nodes[0].args: expected Keras tensors with a keras_history")
            }
            guard history[1] == .number(0), history[2] == .number(0) else {
                throw ConfigError(path: path, message: "reads \(source)'s call \(history[1].serialized) output \(history[2].serialized); only layers called once with one output are supported")
            }
            return source == inputName ? "input" : source
        }
    }

    /// Our model's output is its last layer: Keras' `output_layers` must name it.
    static func checkOutput(_ config: JSONValue, layers: [JSONValue]) throws(ConfigError) {
        guard let outputs = config["output_layers"], let last = layers.last?.string("name") else { return }
        var names: [String] = []
        if case let .array(items) = outputs {
            if let single = items.first?.stringValue { names = [single] }
            else { names = items.compactMap { $0.arrayValue?.first?.stringValue } }
        }
        guard names.count == 1 else { throw ConfigError(path: "config.output_layers", message: "\(names.count) outputs; models here have one") }
        guard names[0] == last else {
            throw ConfigError(path: "config.output_layers", message: "the output \(names[0]) is not the last layer (\(last)); list the output layer last")
        }
    }

    // MARK: compile_config

    /// `loss`, `optimizer` and `metrics` from Keras' compile arguments.
    static func compileArguments(_ compile: JSONValue) throws(ConfigError) -> [(key: String, value: JSONValue)] {
        var out: [(key: String, value: JSONValue)] = []
        for (key, value) in compile.members {
            let path = "compile_config.\(key)"
            switch key {
            case "loss": out.append(("loss", try loss(value, path: path)))
            case "optimizer": out.append(("optimizer", try optimizer(value, path: path)))
            case "metrics": out.append(("metrics", try metrics(value, path: path)))
            case "loss_weights", "weighted_metrics":
                guard value == .null else { throw ConfigError(path: path, message: "is not supported") }
            case "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss":
                break  // how Keras runs, not what it computes
            default:
                throw ConfigError(path: path, message: "is not supported")
            }
        }
        return out
    }

    static let lossNames = ["mse": "mean_squared_error", "categorical_crossentropy": "categorical_crossentropy",
                            "sparse_categorical_crossentropy": "sparse_categorical_crossentropy", "mean_squared_error": "mean_squared_error"]

    static func loss(_ value: JSONValue, path: String) throws(ConfigError) -> JSONValue {
        if let name = value.stringValue {
            guard let loss = lossNames[name] else { throw ConfigError(path: path, message: "the loss \"\(name)\" is not supported; supported: \(LossKind.allCases.map(\.rawValue).joined(separator: ", "))") }
            return .string(loss)
        }
        guard let className = value.string("class_name"), let name = lossNames[Model.kerasSnakeCase(className)] else {
            throw ConfigError(path: path, message: "the loss \(value.string("class_name") ?? value.kindDescription) is not supported; supported: \(LossKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var smoothing = 0.0
        for (key, setting) in (value["config"] ?? .object([])).members {
            switch (key, setting) {
            case ("name", _), ("reduction", .string("sum_over_batch_size")), ("from_logits", .bool(false)), ("axis", .number(-1)),
                 ("ignore_class", .null), ("dtype", .null), ("dtype", .string("float32")):
                break
            case let ("label_smoothing", .number(s)): smoothing = s
            case ("from_logits", _):
                throw ConfigError(path: path, message: "\(className) with from_logits true is not supported; end the model with a softmax activation")
            default:
                throw ConfigError(path: path, message: "\(className) with \(key) \(setting.serialized) is not supported")
            }
        }
        return smoothing == 0 ? .string(name) : .object([("type", .string(name)), ("label_smoothing", .number(smoothing))])
    }

    /// Keras' optimizer config keys that must keep the value that changes nothing.
    static let optimizerNeutral: [String: JSONValue] = [
        "use_ema": .bool(false), "amsgrad": .bool(false), "ema_overwrite_frequency": .null,
        "loss_scale_factor": .null, "gradient_accumulation_steps": .null,
    ]

    static func optimizer(_ value: JSONValue, path: String) throws(ConfigError) -> JSONValue {
        if let name = value.stringValue { return .string(name.lowercased()) }
        guard let className = value.string("class_name") else {
            throw ConfigError(path: path, message: "expected a Keras optimizer, got \(value.kindDescription)")
        }
        let kind = className.lowercased()
        guard let known = OptimizerSpec.Kind(rawValue: kind) else {
            throw ConfigError(path: path, message: "the optimizer \(className) is not supported; supported: \(OptimizerSpec.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var out: [(key: String, value: JSONValue)] = [("type", .string(kind))]
        let arguments = OptimizerSpec.commonKeys + OptimizerSpec.defaults(known).kindArguments.map(\.key)
        for (key, setting) in (value["config"] ?? .object([])).members {
            switch key {
            case "name", "ema_momentum":
                break  // ema_momentum is read only with use_ema, which must be false
            case "learning_rate":
                out.append((key, try schedule(setting, path: "\(path) (\(className))")))
            case _ where arguments.contains(key):
                out.append((key, setting))
            default:
                guard let neutral = optimizerNeutral[key] else { throw ConfigError(path: "\(path) (\(className))", message: "\(key) is not supported") }
                guard setting == neutral else { throw ConfigError(path: "\(path) (\(className))", message: "\(key) \(setting.serialized) is not supported") }
            }
        }
        return .object(out)
    }

    /// A rate, or a Keras schedule (`CosineDecay`) as ours (`cosine_decay`).
    static func schedule(_ value: JSONValue, path: String) throws(ConfigError) -> JSONValue {
        guard let className = value.string("class_name") else { return value }
        let type = Model.kerasSnakeCase(className)
        guard LearningRate.typeNames.contains(type), type != "one_cycle" else {
            throw ConfigError(path: path, message: "the learning-rate schedule \(className) is not supported")
        }
        return .object([("type", .string(type))] + (value["config"] ?? .object([])).members.filter { $0.key != "name" })
    }

    static func metrics(_ value: JSONValue, path: String) throws(ConfigError) -> JSONValue {
        guard case let .array(items) = value else { return value == .null ? .array([]) : value }
        return .array(try items.enumerated().map { index, item throws(ConfigError) in
            let name = item.stringValue ?? item.string("class_name").map(Model.kerasSnakeCase)
            guard let name, ["accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy"].contains(name) else {
                throw ConfigError(path: "\(path)[\(index)]", message: "the metric \(item.string("class_name") ?? item.kindDescription) is not supported; supported: accuracy")
            }
            return .string("accuracy")
        })
    }

}

extension JSONValue {
    /// The members of an object, none for anything else.
    var members: [(key: String, value: JSONValue)] {
        if case let .object(members) = self { return members }
        return []
    }

    var stringValue: String? {
        if case let .string(text) = self { return text }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case let .array(items) = self { return items }
        return nil
    }

    /// An object's string member `key`.
    func string(_ key: String) -> String? { self[key]?.stringValue }
}
