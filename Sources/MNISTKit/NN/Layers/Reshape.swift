// keras.layers.Reshape: the same values under another shape (one -1 inferred).
// A view, like Flatten: nothing runs.

struct Reshape: ViewLayer {
    static let typeName = "reshape"
    static let argumentNames = ["target_shape"]

    var targetShape: [Int]

    init(spec: SpecObject) throws(ConfigError) {
        let expected = "an array of 1 to 3 positive integers (one may be -1)"
        guard let value = spec.value("target_shape") else { throw spec.missing("target_shape", expected) }
        guard case let .array(items) = value, (1 ... 3).contains(items.count), let shape = items.integers(),
              shape.allSatisfy({ $0 >= 1 || $0 == -1 }), shape.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 <= 65_536 }) else {
            throw ConfigError(path: spec.keyPath("target_shape"), message: "expected \(expected), got \(value.kindDescription)")
        }
        targetShape = shape
    }

    var arguments: [(key: String, value: JSONValue)] { [("target_shape", .array(targetShape.map { .number(Double($0)) }))] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let count = input.reduce(1, *), known = targetShape.filter { $0 != -1 }.reduce(1, *)
        var output = targetShape
        if let inferred = targetShape.firstIndex(of: -1), count % known == 0 { output[inferred] = count / known }
        guard output.reduce(1, *) == count, !output.contains(-1) else {
            throw ConfigError(path: path + ".target_shape", message: "cannot reshape \(formatShape(input)) (\(count) values) into \(formatShape(targetShape))")
        }
        return output
    }
}

extension Reshape {
    /// Reshape in Keras' order (channels last), the batch axis kept.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toKerasLayout(input)
        graph.node("Reshape", [graph.current, graph.integers("shape", [-1] + output)])
    }
}
