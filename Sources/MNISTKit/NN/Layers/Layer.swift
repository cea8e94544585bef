// What every layer file provides, and the registry of layer types.
// A layer file holds its spec (Keras' name, arguments and defaults), shape
// inference, variables, workspace needs, and forward/backward side by side.
// Adding a layer is one file plus one line in `layerTypes`.

/// Every layer type the spec accepts, in the order error messages list them.
let layerTypes: [any Layer.Type] = [
    Dense.self, Conv2D.self, MaxPooling2D.self, AveragePooling2D.self, GlobalAveragePooling2D.self,
    BatchNormalization.self, Dropout.self, Flatten.self, Reshape.self, ActivationLayer.self,
    RandomFlip.self, RandomTranslation.self, RandomRotation.self, RandomZoom.self,
]

protocol Layer: Sendable {
    /// Keras' serialised name, the spec's `"type"` (`dense`, `conv2d`).
    static var typeName: String { get }
    /// The class name Keras' summary prints (`Dense`, `Conv2D`).
    static var kerasClassName: String { get }
    /// Keras' argument names this layer accepts, besides `type`.
    static var argumentNames: [String] { get }

    /// Reads the arguments, with Keras' defaults; bad values fail here, naming their path.
    init(spec: SpecObject) throws(ConfigError)
    /// The arguments with every default written out, in `argumentNames` order.
    var arguments: [(key: String, value: JSONValue)] { get }

    /// Resolves the input shape (no batch axis): declares the variables and
    /// returns the output shape. Errors name the layer's path and both shapes.
    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int]

    /// Floats of scratch the layer needs for a batch of `B` on `T` threads, one
    /// buffer per entry (masks, im2col columns, statistics).
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int]

    /// `io.out` (B, output) from `io.inp` (B, input).
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator)
    /// `io.dinp` from `io.dout`, and the gradients of the layer's variables
    /// (each slice updated by the context's optimizer once it is final).
    func backward(_ io: LayerIO, _ context: StepContext)

    /// The output aliases the input (flatten, reshape): no buffers, no passes.
    var isView: Bool { get }
    /// Active in training only, at the front of the model (random_translation,
    /// ...); evaluation, prediction and export skip it. Draws from its own stream.
    var isAugmentation: Bool { get }
    /// The activation its output passes through last, if it applies one.
    var outputActivation: Activation? { get }
    /// An element-wise activation whose gradient the next layer may apply for
    /// it, to its input gradient while in cache (dense and conv2d offer theirs).
    var deferrableActivation: Activation? { get }
    /// Applies `io.inputActivation`'s gradient to its input gradient when asked.
    var appliesInputActivationGradient: Bool { get }

    /// Appends the layer's inference to an ONNX graph (`Export/ONNXExport.swift`);
    /// `input` and `output` are its Keras shapes, without the batch axis.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int])
}

extension Layer {
    static var kerasClassName: String { typeName.prefix(1).uppercased() + typeName.dropFirst() }
    var isView: Bool { false }
    var isAugmentation: Bool { false }
    var outputActivation: Activation? { nil }
    var deferrableActivation: Activation? { nil }
    var appliesInputActivationGradient: Bool { false }
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] { [] }
}

/// An activation whose gradient needs only the output, element by element.
extension Activation {
    var isElementWise: Bool { self == .relu || self == .sigmoid || self == .tanh }
}

/// One layer's buffers for one pass over the first `B` rows.
struct LayerIO {
    let B: Int
    let inp: UnsafePointer<Float>
    let out: UnsafeMutablePointer<Float>
    /// Gradient with respect to the input; nil when nothing before this layer learns.
    let dinp: UnsafeMutablePointer<Float>?
    /// Gradient with respect to the output (training only).
    let dout: UnsafeMutablePointer<Float>?
    let scratch: [FloatBuffer]
    let training: Bool
    /// The loss applies this layer's softmax (fused with cross-entropy): compute logits.
    let lossAppliesSoftmax: Bool
    /// The next layer has already applied this layer's activation gradient to `dout`.
    let activationGradientDone: Bool
    /// The previous layer's deferred activation, whose gradient this layer applies to `dinp`.
    let inputActivation: Activation?

    /// The activation to apply in the forward pass (linear when the loss fuses softmax).
    func forwardActivation(_ activation: Activation) -> Activation {
        lossAppliesSoftmax ? .linear : activation
    }

    /// Whether backward must first turn `dout` into the pre-activation gradient.
    func needsOwnActivationGradient(_ activation: Activation) -> Bool {
        !lossAppliesSoftmax && activation != .linear && !activationGradientDone
    }
}

/// What one pass shares: the threads, the flat buffers, the optimizer that
/// updates each slice once its gradient is final, and (for the benchmark) a
/// recorder that collects the sgemm calls instead of making them.
struct StepContext {
    let workers: WorkerPool
    let parameters: UnsafeMutablePointer<Float>
    let gradients: UnsafeMutablePointer<Float>
    let nonTrainable: UnsafeMutablePointer<Float>
    let optimizer: Optimizer?
    let recorder: GEMMRecorder?

    var threads: Int { workers.count }

    /// One phase: `body(t)` on every thread, then a barrier.
    func run(_ body: (Int) -> Void) {
        recorder?.beginPhase(threads: workers.count)
        workers.run(body)
    }

    /// One phase over `n` rows, each thread taking a contiguous range.
    func run(rows n: Int, _ body: (_ t: Int, _ rows: Range<Int>) -> Void) {
        recorder?.beginPhase(threads: workers.count)
        workers.run(rows: n, body)
    }

    /// The step's matrix products, made by thread `t` (or recorded).
    @inline(__always)
    func sgemm(_ t: Int, transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
               c: UnsafeMutablePointer<Float>, ldc: Int) {
        if let recorder {
            recorder.record(GEMMCall(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc), thread: t)
            return
        }
        MNISTKit.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
    }

    /// Applies the optimizer to parameters `range`, whose gradients are final.
    @inline(__always)
    func update(_ range: Range<Int>) {
        guard let optimizer, !range.isEmpty else { return }
        optimizer.apply(parameters, gradients, range)
    }
}

/// Collects the sgemm calls of one pass, phase by phase and thread by thread,
/// for the benchmark's replay.
final class GEMMRecorder: @unchecked Sendable {
    final class Calls: @unchecked Sendable { var list = [GEMMCall]() }
    private(set) var phases = [[Calls]]()

    func beginPhase(threads: Int) { phases.append((0 ..< threads).map { _ in Calls() }) }

    /// Each thread appends only to its own list.
    func record(_ call: GEMMCall, thread t: Int) { phases[phases.count - 1][t].list.append(call) }

    /// Phases that made any call: for each, each thread's calls.
    var calls: [[[GEMMCall]]] {
        phases.map { $0.map(\.list) }.filter { $0.contains { !$0.isEmpty } }
    }
}

/// A variable a layer declares, under Keras' name.
struct VariableDeclaration {
    let name: String
    let shape: [Int]
    let initializer: Initializer
    let fanIn: Int
    let fanOut: Int
    let trainable: Bool
}

/// Lays the variables out as the model builds: trainable ones in the flat
/// parameter buffer, the others (batch norm's moving statistics) in a second.
struct VariableLayout {
    private(set) var declarations = [(layer: String, declaration: VariableDeclaration, offset: Int)]()
    private(set) var trainableCount = 0
    private(set) var nonTrainableCount = 0
    var layerName = ""

    /// Declares a variable of the current layer; returns its offset in its buffer.
    mutating func declare(_ name: String, shape: [Int], initializer: Initializer, fanIn: Int = 0, fanOut: Int = 0,
                          trainable: Bool = true, path: String) throws(ConfigError) -> Int {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Model.maximumParameterCount else { throw tooLarge(path) }
            count = product
        }
        let offset = trainable ? trainableCount : nonTrainableCount
        guard offset + count <= Model.maximumParameterCount else { throw tooLarge(path) }
        if trainable { trainableCount += count } else { nonTrainableCount += count }
        declarations.append((layerName, VariableDeclaration(name: name, shape: shape, initializer: initializer, fanIn: fanIn,
                                                            fanOut: fanOut, trainable: trainable), offset))
        return offset
    }

    private func tooLarge(_ path: String) -> ConfigError {
        ConfigError(path: path, message: "makes the model larger than the \(Model.maximumParameterCount) parameters this tool supports")
    }
}

/// One layer of a spec: its type and arguments, as Keras names them. Two specs
/// are equal when their resolved arguments are.
public struct LayerSpec: Equatable, Sendable {
    let layer: any Layer

    init(_ layer: any Layer) { self.layer = layer }

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
        let names = (layerTypes.map { $0.typeName } + Activation.allCases.map(\.rawValue)).joined(separator: ", ")
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

/// Keras' `channels_last` image shape from an input shape: (H, W) is one channel.
func imageShape(_ input: [Int], layer: String, path: String) throws(ConfigError) -> (height: Int, width: Int, channels: Int) {
    if input.count == 2 { return (input[0], input[1], 1) }
    guard input.count == 3 else {
        throw ConfigError(path: path, message: "\(layer) expects images (height, width, channels) but receives \(formatShape(input)); set input_shape to [28, 28] or add {\"type\": \"reshape\", \"target_shape\": [28, 28, 1]}")
    }
    return (input[0], input[1], input[2])
}
