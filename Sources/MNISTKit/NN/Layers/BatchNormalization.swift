import Foundation

// keras.layers.BatchNormalization over the last axis, forward and backward side
// by side. Shapes: R = B·(positions) rows of C channels. Training normalises
// with the batch's mean and (biased) variance and moves the moving averages
// toward them; evaluation uses the moving averages. As Keras computes it:
// y = x·s + (beta - mean·s) with s = gamma / sqrt(variance + epsilon).
// Followed by a relu layer, it applies the relu too (`Model.fusedRelus`):
// max(y, 0) in the same pass, and relu's gradient wherever it reads dy.

struct BatchNormalization: Layer {
    static let typeName = "batch_normalization"
    static let argumentNames = ["momentum", "epsilon", "center", "scale"]

    var momentum: Double
    var epsilon: Double
    var center: Bool
    var scale: Bool
    // Resolved by `build`.
    var channels = 0, positions = 0
    var gamma: Int?, beta: Int?
    var movingMean = 0, movingVariance = 0

    init(spec: SpecObject) throws(ConfigError) {
        momentum = try spec.number("momentum", default: 0.99, expected: "a number from 0 to 1") { $0 >= 0 && $0 <= 1 }
        (epsilon, center, scale) = try spec.normalizationArguments()
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("momentum", .number(momentum)), ("epsilon", .number(epsilon)), ("center", .bool(center)), ("scale", .bool(scale))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        channels = input.last ?? 1
        positions = input.dropLast().reduce(1, *)
        let shape = [channels]
        // Keras' order: gamma, beta, moving_mean, moving_variance.
        (gamma, beta) = try variables.declareGammaBeta(channels: channels, scale: scale, center: center, path: path)
        movingMean = try variables.declare("moving_mean", shape: shape, initializer: .zeros, trainable: false, path: path)
        movingVariance = try variables.declare("moving_variance", shape: shape, initializer: .ones, trainable: false, path: path)
        return input
    }

    var appliesInputActivationGradient: Bool { true }

    /// 0: the batch mean and 1 / sqrt(variance + epsilon); 1: per-channel scale
    /// and shift (or backward's coefficients); 2: each thread's partial sums, as doubles.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        [2 * channels, 3 * channels, 2 * 2 * (T + 1) * channels]
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let C = channels, R = io.B * positions, w = context.parameters, moving = context.nonTrainable
        let statistics = io.scratch[0].pointer, mean = statistics, inverse = statistics + C
        let coefficients = io.scratch[1].pointer
        if io.training {
            // Σx and Σx² in one pass, in doubles (no cancellation at these sizes).
            let sums = channelSums(io, context, rows: R, gradient: nil)
            let m = Float(momentum)
            for c in 0 ..< C {
                let batchMean = sums[c] / Double(R)
                let variance = Float(max(sums[C + c] / Double(R) - batchMean * batchMean, 0))
                mean[c] = Float(batchMean)
                inverse[c] = 1 / (variance + Float(epsilon)).squareRoot()
                moving[movingMean + c] = moving[movingMean + c] * m + mean[c] * (1 - m)
                moving[movingVariance + c] = moving[movingVariance + c] * m + variance * (1 - m)
            }
        } else {
            for c in 0 ..< C {
                mean[c] = moving[movingMean + c]
                inverse[c] = 1 / (moving[movingVariance + c] + Float(epsilon)).squareRoot()
            }
        }
        let s = coefficients, shift = coefficients + C
        for c in 0 ..< C {
            s[c] = inverse[c] * (gamma.map { w[$0 + c] } ?? 1)
            shift[c] = (beta.map { w[$0 + c] } ?? 0) - mean[c] * s[c]
        }
        let relu = io.relu != nil, out = io.relu?.out ?? io.out
        context.run(rows: R) { _, rows in
            for r in rows {
                let x = io.inp + r * C, y = out + r * C
                if relu {
                    for c in 0 ..< C { y[c] = max(x[c] * s[c] + shift[c], 0) }
                } else {
                    for c in 0 ..< C { y[c] = x[c] * s[c] + shift[c] }
                }
            }
        }
    }

    /// dbeta = Σ dy, dgamma = Σ dy·x̂ (x̂ the normalised input), and
    /// dx = gamma·inverse / R · (R·dy - dbeta - x̂·dgamma), as a·dy + b·x + d per channel.
    func backward(_ io: LayerIO, _ context: StepContext) {
        // With the relu fused, dy is the relu's output gradient where its output is positive, else 0.
        guard let dout = io.relu?.dout ?? io.dout.map({ UnsafePointer($0) }) else { return }
        let reluOutput = io.relu.map { UnsafePointer($0.out) }
        let C = channels, R = io.B * positions, w = context.parameters, dw = context.parameterGradients
        let mean = UnsafePointer(io.scratch[0].pointer), inverse = mean + C
        // Σdy and Σdy·x in one pass; Σdy·x̂ = inverse (Σdy·x - mean Σdy).
        let sums = channelSums(io, context, rows: R, gradient: dout, reluOutput: reluOutput)
        let a = io.scratch[1].pointer, b = a + C, d = a + 2 * C
        for c in 0 ..< C {
            let dbeta = Float(sums[c]), dgamma = Float((sums[C + c] - Double(mean[c]) * sums[c]) * Double(inverse[c]))
            if let beta { dw[beta + c] = dbeta }
            if let gamma { dw[gamma + c] = dgamma }
            let g = gamma.map { w[$0 + c] } ?? 1
            let k = g * inverse[c] / Float(R)
            a[c] = g * inverse[c]
            b[c] = -k * inverse[c] * dgamma
            d[c] = -k * dbeta + k * inverse[c] * dgamma * mean[c]
        }
        if let dinp = io.dinp {
            context.run(rows: R) { _, rows in
                for r in rows {
                    let x = io.inp + r * C, dy = dout + r * C, dx = dinp + r * C
                    if let reluOutput {
                        // Vectors, so the relu's mask is a select, not a branch per value.
                        let y = reluOutput + r * C
                        forEachChannelVector(C) { c, lanes in
                            let g = FloatVector(repeating: 0).replacing(with: loadVector(dy + c, lanes), where: loadVector(y + c, lanes) .> 0)
                            let value = loadVector(a + c, lanes) * g + loadVector(b + c, lanes) * loadVector(x + c, lanes) + loadVector(d + c, lanes)
                            storeVector(value, dx + c, lanes)
                        }
                    } else {
                        for c in 0 ..< C { dx[c] = a[c] * dy[c] + b[c] * x[c] + d[c] }
                    }
                }
                io.applyInputActivationGradient(rows: rows, width: C)
            }
        }
        if let gamma { context.update(gamma ..< gamma + C) }
        if let beta { context.update(beta ..< beta + C) }
    }

    /// Per channel, over R rows: Σx and Σx² (no gradient), or Σdy and Σdy·x
    /// (dy zero where `reluOutput`, when given, is not positive).
    /// Each thread sums its rows in order; the threads' sums are added in
    /// thread order. Returns 2C doubles: the first sums, then the second.
    private func channelSums(_ io: LayerIO, _ context: StepContext, rows R: Int, gradient: UnsafePointer<Float>?,
                             reluOutput: UnsafePointer<Float>? = nil) -> UnsafeMutablePointer<Double> {
        let C = channels, T = context.threads
        let partials = UnsafeMutableRawPointer(io.scratch[2].pointer).bindMemory(to: Double.self, capacity: 2 * (T + 1) * C)
        context.run(rows: R) { t, rows in
            let first = partials + 2 * t * C, second = first + C
            first.update(repeating: 0, count: 2 * C)
            for r in rows {
                let x = io.inp + r * C
                if let gradient, let reluOutput {
                    let dy = gradient + r * C, y = reluOutput + r * C
                    for c in 0 ..< C {
                        let g = y[c] > 0 ? dy[c] : 0
                        first[c] += Double(g)
                        second[c] += Double(g) * Double(x[c])
                    }
                } else if let gradient {
                    let dy = gradient + r * C
                    for c in 0 ..< C {
                        first[c] += Double(dy[c])
                        second[c] += Double(dy[c]) * Double(x[c])
                    }
                } else {
                    for c in 0 ..< C {
                        first[c] += Double(x[c])
                        second[c] += Double(x[c]) * Double(x[c])
                    }
                }
            }
        }
        let total = partials + 2 * T * C
        total.update(repeating: 0, count: 2 * C)
        for t in 0 ..< T { for k in 0 ..< 2 * C { total[k] += partials[2 * t * C + k] } }
        return total
    }
}

extension BatchNormalization {
    /// BatchNormalization with the moving statistics, on the channel axis: images go
    /// channels-first, flat rows are already (N, C). A (H, W) input normalises its last
    /// axis, which ONNX's operator cannot: there it is the same formula as a Mul and an Add.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        let C = channels
        let gamma = scale ? graph.weight("gamma") : [Float](repeating: 1, count: C)
        let beta = center ? graph.weight("beta") : [Float](repeating: 0, count: C)
        let (mean, variance) = (graph.weight("moving_mean"), graph.weight("moving_variance"))
        if input.count == 2 {
            graph.toKerasLayout(input)
            let factor = (0 ..< C).map { gamma[$0] / (variance[$0] + Float(epsilon)).squareRoot() }
            graph.node("Mul", [graph.current, graph.constant("scale", shape: [C], values: factor)])
            graph.node("Add", [graph.current, graph.constant("shift", shape: [C], values: (0 ..< C).map { beta[$0] - mean[$0] * factor[$0] })])
            return
        }
        if input.count == 3 { graph.toChannelsFirst(input) } else { graph.toKerasLayout(input) }
        let operands = [graph.current, graph.constant("gamma", shape: [C], values: gamma), graph.constant("beta", shape: [C], values: beta),
                        graph.constant("moving_mean", shape: [C], values: mean), graph.constant("moving_variance", shape: [C], values: variance)]
        graph.node("BatchNormalization", operands, attributes: [.float("epsilon", Float(epsilon))])
    }
}

// What batch and layer normalization share.

extension SpecObject {
    /// `epsilon` (0.001), `center` and `scale` (true), as Keras' normalization layers take them.
    func normalizationArguments() throws(ConfigError) -> (epsilon: Double, center: Bool, scale: Bool) {
        (try number("epsilon", default: 0.001, expected: "a positive number") { $0 > 0 },
         try bool("center", default: true), try bool("scale", default: true))
    }
}

extension VariableLayout {
    /// gamma (ones, when `scale`) then beta (zeros, when `center`) over the last axis' `channels`,
    /// in Keras' order; their offsets.
    mutating func declareGammaBeta(channels: Int, scale: Bool, center: Bool, path: String) throws(ConfigError) -> (gamma: Int?, beta: Int?) {
        (scale ? try declare("gamma", shape: [channels], initializer: .ones, path: path) : nil,
         center ? try declare("beta", shape: [channels], initializer: .zeros, path: path) : nil)
    }
}
