// The registry of layer types and the spec of one layer: adding a layer is
// one file in Layers/ plus one line in `layerTypes`.

/// Every layer type the spec accepts, in the order error messages list them.
let layerTypes: [any Layer.Type] = [
    Dense.self, Conv2D.self, MaxPooling2D.self, AveragePooling2D.self, GlobalAveragePooling2D.self, GlobalMaxPooling2D.self,
    ZeroPadding2D.self, BatchNormalization.self, LayerNormalization.self, Dropout.self, Flatten.self, Reshape.self, ActivationLayer.self,
    RandomFlip.self, RandomTranslation.self, RandomRotation.self, RandomZoom.self,
]

/// One layer of a spec: its type and arguments, as Keras names them. Two specs
/// are equal when their resolved arguments are.
public struct LayerSpec: Equatable, Sendable {
    let layer: any Layer

    init(_ layer: any Layer) { self.layer = layer }

    /// Every layer type a spec accepts (Keras' serialised names), in registry order.
    public static var typeNames: [String] { layerTypes.map { $0.typeName } }

    /// Keras' serialised name of the layer type (`dense`, `conv2d`).
    public var typeName: String { type(of: layer).typeName }
    /// The class name Keras' summary prints (`Dense`, `Conv2D`).
    public var kerasClassName: String { type(of: layer).kerasClassName }

    /// `{"type": ..., arguments...}` with every default written out.
    public var json: JSONValue { .object([("type", .string(typeName))] + layer.arguments) }

    /// Equal when their resolved arguments are.
    public static func == (lhs: LayerSpec, rhs: LayerSpec) -> Bool { lhs.json == rhs.json }

    /// Reads one layer object of a spec; `path` names it in errors (`layers[2]`).
    public init(json value: JSONValue, path: String) throws(ConfigError) {
        let names = (LayerSpec.typeNames + Activation.allCases.map(\.rawValue)).joined(separator: ", ")
        guard case let .string(typeName)? = value["type"] else {
            guard case .object = value else { throw ConfigError(path: path, message: "expected a layer object, got \(value.kindDescription)") }
            throw ConfigError(path: path + ".type", message: "missing; expected one of \(names)")
        }
        if let type = layerTypes.first(where: { $0.typeName == typeName }) {
            layer = try type.init(spec: try SpecObject(value, path: path, allowedKeys: ["type"] + type.argumentNames))
        } else if let activation = Activation(rawValue: typeName) {
            // Shorthand: {"type": "relu"} is an activation layer.
            _ = try SpecObject(value, path: path, allowedKeys: ["type"])
            layer = ActivationLayer(activation: activation)
        } else {
            throw ConfigError(path: path + ".type", message: "unknown layer type \"\(typeName)\"; expected one of \(names)")
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
