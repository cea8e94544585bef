// The registry of layer types and the spec of one layer: adding a layer is
// one file in Layers/ plus one line in `layerTypes`.

/// Every layer type the spec accepts, in the order error messages list them.
let layerTypes: [any Layer.Type] = [
    Dense.self, Conv2D.self, MaxPooling2D.self, AveragePooling2D.self, GlobalAveragePooling2D.self, GlobalMaxPooling2D.self,
    ZeroPadding2D.self, BatchNormalization.self, LayerNormalization.self, Dropout.self, Flatten.self, Reshape.self, ActivationLayer.self,
    RandomFlip.self, RandomTranslation.self, RandomRotation.self, RandomZoom.self, RandomErasing.self,
    Add.self, Subtract.self, Multiply.self, Average.self, Maximum.self, Minimum.self, Concatenate.self,
    DepthwiseConv2D.self, SeparableConv2D.self,
]

/// One layer of a spec: its type and arguments, as Keras names them. Two specs
/// are equal when their resolved arguments are.
public struct LayerSpec: Equatable, Sendable {
    let layer: any Layer
    /// The spec's `"name"`; nil: `<type>_<n>`, counted per type from 1.
    public var name: String?
    /// The spec's `"inputs"`: earlier layers' names or `"input"`; nil: the previous layer.
    public var inputs: [String]?

    init(_ layer: any Layer, name: String? = nil, inputs: [String]? = nil) {
        self.layer = layer
        self.name = name
        self.inputs = inputs
    }

    /// The keys every layer object may have besides `type` and its arguments.
    static let graphKeys = ["name", "inputs"]
    /// A layer name: what variable names, safetensors keys and ONNX values can carry as they are.
    static func isValidName(_ name: String) -> Bool {
        (1 ... 64).contains(name.utf8.count) && name != "input"
            && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || (48 ... 57).contains($0) || (65 ... 90).contains($0) || (97 ... 122).contains($0) }
    }

    /// Every layer type a spec accepts (Keras' serialised names), in registry order.
    public static var typeNames: [String] { layerTypes.map { $0.typeName } }

    /// Keras' serialised name of the layer type (`dense`, `conv2d`).
    public var typeName: String { type(of: layer).typeName }
    /// The class name Keras' summary prints (`Dense`, `Conv2D`).
    public var kerasClassName: String { type(of: layer).kerasClassName }

    /// `{"type": ..., "name", "inputs", arguments...}` with every default written out
    /// (`name` and `inputs` only when the spec gave them).
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("type", .string(typeName))]
        if let name { members.append(("name", .string(name))) }
        if let inputs { members.append(("inputs", .array(inputs.map { .string($0) }))) }
        return .object(members + layer.arguments)
    }

    /// Equal when their resolved arguments are.
    public static func == (lhs: LayerSpec, rhs: LayerSpec) -> Bool { lhs.json == rhs.json }

    /// Reads one layer object of a spec; `path` names it in errors (`layers[2]`).
    public init(json value: JSONValue, path: String) throws(ConfigError) {
        let names = (LayerSpec.typeNames + Activation.allCases.map(\.rawValue)).joined(separator: ", ")
        guard case let .string(typeName)? = value["type"] else {
            guard case .object = value else { throw ConfigError(path: path, message: "expected a layer object, got \(value.kindDescription)") }
            throw ConfigError(path: path + ".type", message: "missing; expected one of \(names)")
        }
        let object: SpecObject
        if let type = layerTypes.first(where: { $0.typeName == typeName }) {
            object = try SpecObject(value, path: path, allowedKeys: ["type"] + type.argumentNames + LayerSpec.graphKeys)
            layer = try type.init(spec: object)
        } else if let activation = Activation(rawValue: typeName) {
            // Shorthand: {"type": "relu"} is an activation layer.
            object = try SpecObject(value, path: path, allowedKeys: ["type"] + LayerSpec.graphKeys)
            layer = ActivationLayer(activation: activation)
        } else {
            throw ConfigError(path: path + ".type", message: "unknown layer type \"\(typeName)\"; expected one of \(names)")
        }
        if let nameValue = object.value("name") {
            guard case let .string(name) = nameValue, LayerSpec.isValidName(name) else {
                throw ConfigError(path: path + ".name", message: "expected a name of 1 to 64 letters, digits, _ and - other than \"input\", got \(nameValue.kindDescription)")
            }
            self.name = name
        }
        if let inputList = object.value("inputs") {
            guard case let .array(items) = inputList, !items.isEmpty else {
                throw ConfigError(path: path + ".inputs", message: "expected a non-empty array of earlier layers' names or \"input\", got \(inputList.kindDescription)")
            }
            inputs = try items.enumerated().map { index, item throws(ConfigError) in
                guard case let .string(input) = item else {
                    throw ConfigError(path: "\(path).inputs[\(index)]", message: "expected a layer name or \"input\", got \(item.kindDescription)")
                }
                return input
            }
        }
    }

    /// Parses one layer object (`{"type": "dense", "units": 10}`), with Keras' defaults.
    public static func parse(_ text: String) throws(ConfigError) -> LayerSpec {
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw ConfigError(path: "", message: error.description) }
        return try LayerSpec(json: json, path: "layer")
    }
}

extension LayerSpec {
    /// A dense layer (Keras' `Dense`) with the usual initialisers.
    public static func dense(units: Int, activation: Activation = .linear, useBias: Bool = true,
                             kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros) -> LayerSpec {
        LayerSpec(Dense(units: units, activation: activation, useBias: useBias, kernelInitializer: kernelInitializer,
                        biasInitializer: biasInitializer))
    }

    /// An activation on its own (Keras' `Activation`).
    public static func activation(_ activation: Activation) -> LayerSpec { LayerSpec(ActivationLayer(activation: activation)) }
    /// Flattens each sample to one axis (Keras' `Flatten`).
    public static var flatten: LayerSpec { LayerSpec(Flatten()) }
    /// Inverted dropout at `rate` in training, nothing in inference (Keras' `Dropout`).
    public static func dropout(rate: Double) -> LayerSpec { LayerSpec(Dropout(rate: rate)) }
}
