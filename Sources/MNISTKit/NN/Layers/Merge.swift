// keras.layers.Add, Subtract, Multiply, Average, Maximum and Minimum: element
// by element over inputs of one shape, folded left to right as Keras does
// (((x0 + x1) + x2), the average divided by n at the end). Six layer types,
// one definition: they differ only in the operation. Shapes: B rows of W
// values per input, B rows of W out.
//
// Gradients: add passes dout to every input, subtract negates it for the
// second, average divides it by n, multiply scales it by the other inputs'
// product, and maximum/minimum give it to the first input holding the
// result, as TensorFlow's gradient of Keras' pairwise maximum does on ties.

enum MergeOperation: Sendable {
    case add, subtract, multiply, average, maximum, minimum
}

/// A merging layer: no arguments, no weights, two or more inputs of one shape.
protocol ElementwiseMerge: Layer {
    static var operation: MergeOperation { get }
    var width: Int { get set }
    init()
}

struct Add: ElementwiseMerge { static let typeName = "add", operation = MergeOperation.add; var width = 0 }
struct Subtract: ElementwiseMerge { static let typeName = "subtract", operation = MergeOperation.subtract; var width = 0 }
struct Multiply: ElementwiseMerge { static let typeName = "multiply", operation = MergeOperation.multiply; var width = 0 }
struct Average: ElementwiseMerge { static let typeName = "average", operation = MergeOperation.average; var width = 0 }
struct Maximum: ElementwiseMerge { static let typeName = "maximum", operation = MergeOperation.maximum; var width = 0 }
struct Minimum: ElementwiseMerge { static let typeName = "minimum", operation = MergeOperation.minimum; var width = 0 }

extension ElementwiseMerge {
    static var argumentNames: [String] { [] }
    static var inputCounts: ClosedRange<Int> { operation == .subtract ? 2 ... 2 : 2 ... Int.max }

    init(spec: SpecObject) throws(ConfigError) { self.init() }

    var arguments: [(key: String, value: JSONValue)] { [] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        try build(inputs: [input], path: path, variables: &variables)
    }

    mutating func build(inputs: [[Int]], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        for (k, shape) in inputs.enumerated().dropFirst() where shape != inputs[0] {
            throw ConfigError(path: path + ".inputs", message: "\(Self.typeName) needs inputs of one shape, but inputs[0] is \(formatShape(inputs[0])) and inputs[\(k)] is \(formatShape(shape))")
        }
        width = inputs[0].reduce(1, *)
        return inputs[0]
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let W = width, inputs = io.inputs, n = inputs.count
        context.run(rows: io.B) { _, rows in
            let start = rows.lowerBound * W, count = rows.count * W
            let out = io.out + start
            out.update(from: inputs[0] + start, count: count)
            for input in inputs.dropFirst() {
                let x = input + start
                switch Self.operation {
                case .add, .average: for k in 0 ..< count { out[k] += x[k] }
                case .subtract: for k in 0 ..< count { out[k] -= x[k] }
                case .multiply: for k in 0 ..< count { out[k] *= x[k] }
                case .maximum: for k in 0 ..< count where x[k] > out[k] { out[k] = x[k] }
                case .minimum: for k in 0 ..< count where x[k] < out[k] { out[k] = x[k] }
                }
            }
            if Self.operation == .average {
                let divisor = Float(n)
                for k in 0 ..< count { out[k] /= divisor }
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let W = width, inputs = io.inputs, n = inputs.count
        context.run(rows: io.B) { _, rows in
            let start = rows.lowerBound * W, count = rows.count * W
            let g = UnsafePointer(dout + start)
            for (j, gradient) in io.inputGradients.enumerated() {
                guard let d = gradient.map({ $0 + start }) else { continue }
                switch Self.operation {
                case .add: d.update(from: g, count: count)
                case .subtract:
                    if j == 0 { d.update(from: g, count: count) } else { for k in 0 ..< count { d[k] = -g[k] } }
                case .average:
                    let divisor = Float(n)
                    for k in 0 ..< count { d[k] = g[k] / divisor }
                case .multiply:
                    d.update(from: g, count: count)
                    for (m, input) in inputs.enumerated() where m != j {
                        let x = input + start
                        for k in 0 ..< count { d[k] *= x[k] }
                    }
                case .maximum, .minimum:
                    // Input j holds the result at k, and no earlier input does.
                    let x = inputs[j] + start, y = io.out + start
                    for k in 0 ..< count {
                        var first = x[k] == y[k]
                        if first { for m in 0 ..< j where inputs[m][start + k] == y[k] { first = false; break } }
                        d[k] = first ? g[k] : 0
                    }
                }
            }
        }
    }

    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        let operands = graph.sameLayout(graph.inputValues, shape: input)
        switch Self.operation {
        case .add: graph.node("Sum", operands)
        case .average: graph.node("Mean", operands)
        case .maximum: graph.node("Max", operands)
        case .minimum: graph.node("Min", operands)
        case .subtract: graph.node("Sub", operands)
        case .multiply:
            // ONNX's Mul is binary: fold left to right, as the forward does.
            var product = operands[0]
            for operand in operands.dropFirst() { product = graph.node("Mul", [product, operand]) }
        }
    }
}
