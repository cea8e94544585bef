// What every layer file provides: its spec (Keras' name, arguments and
// defaults), shape inference, variables, workspace needs, and forward/backward
// side by side. The registry is `layerTypes` (`LayerSpec.swift`).

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
    /// How many inputs it reads: one, except the merging layers (`Merge.swift`).
    static var inputCounts: ClosedRange<Int> { get }
    /// `build` for every input's shape; only merging layers read more than one.
    mutating func build(inputs: [[Int]], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int]

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

    /// Gives up faster algorithms chosen by `build` (Winograd) for the plain
    /// ones, whose products define the benchmark's sgemm bound.
    mutating func usePlainAlgorithms()

    /// Appends the layer's inference to an ONNX graph (`Export/ONNXExport.swift`);
    /// `input` and `output` are its Keras shapes, without the batch axis.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int])
}

extension Layer {
    /// Keras' CamelCase of the snake_case type: `layer_normalization` is
    /// `LayerNormalization`, and a dimension suffix keeps its capital (`conv2d`, `Conv2D`).
    static var kerasClassName: String {
        typeName.split(separator: "_").map { word in
            var word = word.prefix(1).uppercased() + word.dropFirst()
            if word.count > 2, word.hasSuffix("d"), word.dropLast().last?.isNumber == true { word = word.dropLast() + "D" }
            return word
        }.joined()
    }
    static var inputCounts: ClosedRange<Int> { 1 ... 1 }
    mutating func build(inputs: [[Int]], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        try build(input: inputs[0], path: path, variables: &variables)
    }
    var isView: Bool { false }
    var isAugmentation: Bool { false }
    var outputActivation: Activation? { nil }
    var deferrableActivation: Activation? { nil }
    var appliesInputActivationGradient: Bool { false }
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] { [] }
    mutating func usePlainAlgorithms() {}
}

/// A layer whose output aliases its input (flatten, reshape): no buffers, no passes.
protocol ViewLayer: Layer {}

extension ViewLayer {
    var isView: Bool { true }
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {}
    func backward(_ io: LayerIO, _ context: StepContext) {}
}

/// Keras' `channels_last` image shape from an input shape: (H, W) is one channel.
func imageShape(_ input: [Int], layer: String, path: String) throws(ConfigError) -> (height: Int, width: Int, channels: Int) {
    if input.count == 2 { return (input[0], input[1], 1) }
    guard input.count == 3 else {
        throw ConfigError(path: path, message: "\(layer) expects images (height, width, channels) but receives \(formatShape(input)); set input_shape to [28, 28] or add {\"type\": \"reshape\", \"target_shape\": [28, 28, 1]}")
    }
    return (input[0], input[1], input[2])
}
