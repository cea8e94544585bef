// keras.layers.Flatten: (B, H, W, C) read as (B, H·W·C), Keras' order for
// channels_last. A view: the output is the input's buffer, so nothing runs.

struct Flatten: ViewLayer {
    static let typeName = "flatten"
    static let argumentNames = [String]()

    init() {}
    init(spec: SpecObject) throws(ConfigError) {}

    var arguments: [(key: String, value: JSONValue)] { [] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        [input.reduce(1, *)]
    }
}

extension Flatten {
    /// Flatten in Keras' order (channels last).
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toKerasLayout(input)
        graph.node("Flatten", attributes: [.int("axis", 1)])
    }
}
