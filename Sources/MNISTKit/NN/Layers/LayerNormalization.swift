// keras.layers.LayerNormalization over the last axis, forward and backward side
// by side. Shapes: R = B·(positions) rows of C values; each row is normalised by
// its own mean and (biased) variance, in training and evaluation alike. As Keras
// computes it: y = x·s + (beta - mean·s) with s = gamma / sqrt(variance + epsilon).

struct LayerNormalization: Layer {
    static let typeName = "layer_normalization"
    static let argumentNames = ["axis", "epsilon", "center", "scale"]

    /// Keras' axis, counting the batch axis as 0: -1 or the last axis' index.
    var axis: Int
    var epsilon: Double
    var center: Bool
    var scale: Bool
    // Resolved by `build`.
    var channels = 0, positions = 0
    var gamma: Int?, beta: Int?

    init(spec: SpecObject) throws(ConfigError) {
        axis = try spec.integer("axis", default: -1, expected: "an integer axis", valid: { _ in true })
        (epsilon, center, scale) = try spec.normalizationArguments()
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("axis", .number(Double(axis))), ("epsilon", .number(epsilon)), ("center", .bool(center)), ("scale", .bool(scale))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        guard axis == -1 || axis == input.count else {
            throw ConfigError(path: path + ".axis", message: "only the last axis (-1, or \(input.count) for the input \(formatShape(input))) can be normalised, not \(axis)")
        }
        channels = input.last ?? 1
        positions = input.dropLast().reduce(1, *)
        (gamma, beta) = try variables.declareGammaBeta(channels: channels, scale: scale, center: center, path: path)
        return input
    }

    var appliesInputActivationGradient: Bool { true }

    /// 0: each row's mean and 1 / sqrt(variance + epsilon), for the backward;
    /// 1 (training): each thread's partial Σdy·x̂ and Σdy, as doubles.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        training ? [2 * B * positions, 2 * 2 * T * channels] : [2 * B * positions]
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let C = channels, R = io.B * positions, w = UnsafePointer(context.parameters)
        let statistics = io.scratch[0].pointer, gamma = gamma, beta = beta
        context.run(rows: R) { _, rows in
            for r in rows {
                let x = io.inp + r * C, y = io.out + r * C
                // Two passes in doubles: the mean, then the squared deviations from it.
                var sum = 0.0
                for c in 0 ..< C { sum += Double(x[c]) }
                let mean = sum / Double(C)
                var squares = 0.0
                for c in 0 ..< C { squares += (Double(x[c]) - mean) * (Double(x[c]) - mean) }
                let inverse = Float(1 / (squares / Double(C) + epsilon).squareRoot()), rowMean = Float(mean)
                statistics[2 * r] = rowMean
                statistics[2 * r + 1] = inverse
                for c in 0 ..< C {
                    let s = inverse * (gamma.map { w[$0 + c] } ?? 1)
                    y[c] = x[c] * s + ((beta.map { w[$0 + c] } ?? 0) - rowMean * s)
                }
            }
        }
    }

    /// With x̂ = (x - mean)·inverse and g = dy·gamma, per row:
    /// dx = inverse · (g - mean(g) - x̂·mean(g·x̂)); dgamma = Σ dy·x̂ and dbeta = Σ dy over rows.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let C = channels, R = io.B * positions, T = context.threads, w = UnsafePointer(context.parameters), dw = context.parameterGradients
        let statistics = UnsafePointer(io.scratch[0].pointer), gamma = gamma, beta = beta
        let partials = UnsafeMutableRawPointer(io.scratch[1].pointer).bindMemory(to: Double.self, capacity: 2 * T * C)
        context.run(rows: R) { t, rows in
            let dgamma = partials + 2 * t * C, dbeta = dgamma + C
            dgamma.update(repeating: 0, count: 2 * C)
            for r in rows {
                let x = io.inp + r * C, dy = UnsafePointer(dout) + r * C
                let mean = statistics[2 * r], inverse = statistics[2 * r + 1]
                var (sumG, sumGX) = (Float(0), Float(0))
                for c in 0 ..< C {
                    let normalised = (x[c] - mean) * inverse, g = dy[c] * (gamma.map { w[$0 + c] } ?? 1)
                    sumG += g
                    sumGX += g * normalised
                    dgamma[c] += Double(dy[c]) * Double(normalised)
                    dbeta[c] += Double(dy[c])
                }
                guard let dinp = io.dinp else { continue }
                let (meanG, meanGX) = (sumG / Float(C), sumGX / Float(C)), dx = dinp + r * C
                for c in 0 ..< C {
                    let normalised = (x[c] - mean) * inverse, g = dy[c] * (gamma.map { w[$0 + c] } ?? 1)
                    dx[c] = inverse * (g - meanG - normalised * meanGX)
                }
            }
            io.applyInputActivationGradient(rows: rows, width: C)
        }
        // The threads' sums, added in thread order.
        for c in 0 ..< C {
            var (sumGamma, sumBeta) = (0.0, 0.0)
            for t in 0 ..< T {
                sumGamma += partials[2 * t * C + c]
                sumBeta += partials[2 * t * C + C + c]
            }
            if let gamma { dw[gamma + c] = Float(sumGamma) }
            if let beta { dw[beta + c] = Float(sumBeta) }
        }
        if let gamma { context.update(gamma ..< gamma + C) }
        if let beta { context.update(beta ..< beta + C) }
    }
}

extension LayerNormalization {
    /// Opset 13 has no LayerNormalization: the formula from ReduceMean, Sub, Mul, Add,
    /// Sqrt and Div over the last Keras axis.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        let C = channels
        graph.toKerasLayout(input)
        let x = graph.current
        let mean = graph.node("ReduceMean", [x], attributes: [.ints("axes", [-1]), .int("keepdims", 1)])
        let centred = graph.node("Sub", [x, mean])
        let variance = graph.node("ReduceMean", [graph.node("Mul", [centred, centred])], attributes: [.ints("axes", [-1]), .int("keepdims", 1)])
        let deviation = graph.node("Sqrt", [graph.node("Add", [variance, graph.constant("epsilon", shape: [1], values: [Float(epsilon)])])])
        graph.node("Div", [centred, deviation])
        if scale { graph.node("Mul", [graph.current, graph.constant("gamma", shape: [C], values: graph.weight("gamma"))]) }
        if center { graph.node("Add", [graph.current, graph.constant("beta", shape: [C], values: graph.weight("beta"))]) }
    }
}
