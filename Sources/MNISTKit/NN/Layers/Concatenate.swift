// keras.layers.Concatenate: inputs joined along one axis (Keras' `axis`, counted
// with the batch axis as 0, default -1: the channels). Shapes: input k is
// (outer, inner_k) per sample, where outer is the product of the axes before
// `axis` and inner_k of the rest; the output is (outer, Σ inner_k). The
// backward copies each input's slices of dout back.

struct Concatenate: Layer {
    static let typeName = "concatenate"
    static let argumentNames = ["axis"]
    static var inputCounts: ClosedRange<Int> { 2 ... Int.max }

    var axis = -1
    var outer = 0
    var inners = [Int]()

    init(spec: SpecObject) throws(ConfigError) {
        axis = try spec.integer("axis", default: -1, expected: "a non-zero integer (0 is the batch axis)") { $0 != 0 }
    }

    var arguments: [(key: String, value: JSONValue)] { [("axis", .number(Double(axis)))] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        try build(inputs: [input], path: path, variables: &variables)
    }

    mutating func build(inputs: [[Int]], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let rank = inputs[0].count
        let a = axis < 0 ? rank + axis : axis - 1
        guard (0 ..< rank).contains(a) else {
            throw ConfigError(path: path + ".axis", message: "\(axis) is not an axis of inputs of shape \(formatShape(inputs[0])) (with the batch axis 0, axes 1 to \(rank) or -\(rank) to -1)")
        }
        var output = inputs[0]
        for (k, shape) in inputs.enumerated().dropFirst() {
            guard shape.count == rank, shape.indices.allSatisfy({ $0 == a || shape[$0] == inputs[0][$0] }) else {
                throw ConfigError(path: path + ".inputs", message: "concatenate on axis \(axis) needs inputs that agree on every other axis, but inputs[0] is \(formatShape(inputs[0])) and inputs[\(k)] is \(formatShape(shape))")
            }
            output[a] += shape[a]
        }
        outer = inputs[0][..<a].reduce(1, *)
        inners = inputs.map { $0[a...].reduce(1, *) }
        return output
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let outer = outer, inners = inners, total = inners.reduce(0, +), inputs = io.inputs
        context.run(rows: io.B * outer) { _, slices in
            for s in slices {
                var at = io.out + s * total
                for (input, inner) in zip(inputs, inners) {
                    at.update(from: input + s * inner, count: inner)
                    at += inner
                }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let outer = outer, inners = inners, total = inners.reduce(0, +), gradients = io.inputGradients
        context.run(rows: io.B * outer) { _, slices in
            for s in slices {
                var at = UnsafePointer(dout + s * total)
                for (gradient, inner) in zip(gradients, inners) {
                    gradient?.advanced(by: s * inner).update(from: at, count: inner)
                    at += inner
                }
            }
        }
    }

    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        let operands = graph.sameLayout(graph.inputValues, shape: input)
        let a = axis < 0 ? input.count + axis : axis - 1
        // Channels-first holds (H, W, C) as (C, H, W).
        let onnxAxis = graph.layout == .channelsFirst ? [2, 3, 1][a] : a + 1
        graph.node("Concat", operands, attributes: [.int("axis", onnxAxis)])
    }
}
