// keras.layers.Activation: an activation on its own, element-wise (softmax
// over the last axis). Shapes: B rows of C values.

struct ActivationLayer: Layer {
    static let typeName = "activation"
    static let argumentNames = ["activation"]

    var activation: Activation
    var width = 0

    init(activation: Activation) { self.activation = activation }

    init(spec: SpecObject) throws(ConfigError) {
        activation = try spec.choice("activation", default: nil, noun: "activation")
    }

    var arguments: [(key: String, value: JSONValue)] { [("activation", .string(activation.rawValue))] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        if activation == .softmax, input.count != 1 {
            throw ConfigError(path: path, message: "softmax expects a flat input but receives \(formatShape(input)); add {\"type\": \"flatten\"} before it")
        }
        width = input.reduce(1, *)
        return input
    }

    var outputActivation: Activation? { activation }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let activation = io.forwardActivation(activation), C = width
        context.run(rows: io.B) { _, rows in
            activationForward(out: io.out + rows.lowerBound * C, inp: io.inp + rows.lowerBound * C, B: rows.count, C: C, activation: activation)
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let activation = io.forwardActivation(activation), C = width
        context.run(rows: io.B) { _, rows in
            let at = rows.lowerBound * C
            activationBackward(dinp: dinp + at, dout: dout + at, out: io.out + at, inp: io.inp + at, B: rows.count, C: C, activation: activation)
        }
    }
}

extension ActivationLayer {
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) { graph.activation(activation) }
}
