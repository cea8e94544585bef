// A fully connected layer (keras.layers.Dense), forward and backward side by
// side. Shapes: B batch rows, I inputs, O outputs. The kernel is (I, O),
// row-major, as Keras stores it; every product is one sgemm with transpose flags.

struct Dense: Layer {
    static let typeName = "dense"
    static let argumentNames = ["units", "activation", "use_bias", "kernel_initializer", "bias_initializer"]

    var units: Int
    var activation: Activation
    var useBias: Bool
    var kernelInitializer: Initializer
    var biasInitializer: Initializer
    // Resolved by `build`.
    var inputs = 0
    var kernel = 0
    var bias: Int?

    init(units: Int, activation: Activation, useBias: Bool, kernelInitializer: Initializer, biasInitializer: Initializer) {
        (self.units, self.activation, self.useBias, self.kernelInitializer, self.biasInitializer) =
            (units, activation, useBias, kernelInitializer, biasInitializer)
    }

    init(spec: SpecObject) throws(ConfigError) {
        self.init(units: try spec.integer("units", default: nil),
                  activation: try spec.choice("activation", default: .linear, noun: "activation"),
                  useBias: try spec.bool("use_bias", default: true),
                  kernelInitializer: try spec.choice("kernel_initializer", default: .glorotUniform, noun: "initializer"),
                  biasInitializer: try spec.choice("bias_initializer", default: .zeros, noun: "initializer"))
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("units", .number(Double(units))), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("kernel_initializer", .string(kernelInitializer.rawValue)), ("bias_initializer", .string(biasInitializer.rawValue))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        guard input.count == 1 else {
            throw ConfigError(path: path, message: "dense expects a flat input but receives \(formatShape(input)); add {\"type\": \"flatten\"} before it")
        }
        let (kernelCount, overflow) = input[0].multipliedReportingOverflow(by: units)
        guard !overflow, kernelCount + units <= Model.maximumParameterCount, units <= Model.maximumWidth else {
            throw ConfigError(path: path + ".units", message: "\(units) units make the model larger than the \(Model.maximumParameterCount) parameters (and \(Model.maximumWidth) units per layer) this tool supports")
        }
        inputs = input[0]
        kernel = try variables.declare("kernel", shape: [inputs, units], initializer: kernelInitializer, fanIn: inputs, fanOut: units, path: path + ".units")
        bias = useBias ? try variables.declare("bias", shape: [units], initializer: biasInitializer, fanIn: inputs, fanOut: units, path: path + ".units") : nil
        return [units]
    }

    var outputActivation: Activation? { activation }
    var deferrableActivation: Activation? { activation.isElementWise ? activation : nil }

    /// Training with gelu or silu: the pre-activation values, for the activation's gradient.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        training && activation.needsInput ? [B * units] : []
    }
    var appliesInputActivationGradient: Bool { true }

    /// Wide layers split their output columns between threads (each gets at
    /// least 64) when what they apply works element by element (a softmax the
    /// loss fuses is the loss's); otherwise the threads split the batch rows.
    func splitsColumns(_ io: LayerIO, threads: Int) -> Bool {
        io.forwardActivation(activation) != .softmax && units >= 64 * threads
    }

    /// out (B, O) = activation(inp (B, I) · kernel (I, O) + bias (O)); the bias
    /// and the activation are one pass over sgemm's output.
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let activation = io.forwardActivation(activation)
        let w = UnsafePointer(context.parameters), B = io.B, I = inputs, O = units
        let bias = bias.map { w + $0 }, preActivation = io.scratch.first?.pointer
        if splitsColumns(io, threads: context.threads) {
            let T = context.threads
            context.run { t in
                let columns = partition(O, parts: T, part: t)
                guard B > 0, !columns.isEmpty else { return }
                let c0 = columns.lowerBound
                context.sgemm(t, m: B, n: columns.count, k: I, a: io.inp, lda: I, b: w + kernel + c0, ldb: O, c: io.out + c0, ldc: O)
                biasActivation(io.out + c0, rows: B, stride: O, n: columns.count, bias: bias.map { $0 + c0 }, activation: activation,
                               keeping: preActivation.map { $0 + c0 })
            }
        } else {
            context.run(rows: B) { t, rows in
                guard !rows.isEmpty else { return }
                let out = io.out + rows.lowerBound * O
                context.sgemm(t, m: rows.count, n: O, k: I, a: io.inp + rows.lowerBound * I, lda: I, b: w + kernel, ldb: O, c: out, ldc: O)
                biasActivation(out, rows: rows.count, stride: O, n: O, bias: bias, activation: activation,
                               keeping: preActivation.map { $0 + rows.lowerBound * O })
            }
        }
    }

    /// From dout (B, O): thread t's rows `mine` of dkernel (I, O) = inpᵀ · dout,
    /// its columns `mine` of dinp (B, I) = dout · kernelᵀ, and its entries of
    /// dbias (O) = column sums of dout. Kernel row i is read only for dinp
    /// column i, so each thread updates its rows as soon as it has their gradient.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let w = context.parameters, dw = context.parameterGradients, B = io.B, I = inputs, O = units, T = context.threads
        if io.needsOwnActivationGradient(activation) {
            context.run(rows: B) { _, rows in
                let at = rows.lowerBound * O
                activationBackward(dinp: dout + at, dout: dout + at, out: io.out + at, inp: io.scratch.first.map { UnsafePointer($0.pointer) + at },
                                   B: rows.count, C: O, activation: activation)
            }
        }
        context.run { t in
            let mine = partition(I, parts: T, part: t), myOutputs = partition(O, parts: T, part: t)
            let i0 = mine.lowerBound
            if !mine.isEmpty {
                context.sgemm(t, transposeA: true, m: mine.count, n: O, k: B, a: io.inp + i0, lda: I, b: dout, ldb: O, c: dw + kernel + i0 * O, ldc: O)
                if let dinp = io.dinp {
                    context.sgemm(t, transposeB: true, m: B, n: mine.count, k: O, a: dout, lda: O, b: w + kernel + i0 * O, ldb: O, c: dinp + i0, ldc: I)
                    // The previous layer's element-wise activation, on this thread's columns.
                    io.applyInputActivationGradient(rows: 0 ..< B, width: mine.count, stride: I, column: i0)
                }
            }
            if let bias, !myOutputs.isEmpty {
                columnSums(dw + bias + myOutputs.lowerBound, rows: dout + myOutputs.lowerBound, B: B, stride: O, n: myOutputs.count)
            }
            context.update(kernel + i0 * O ..< kernel + mine.upperBound * O)
            if let bias { context.update(bias + myOutputs.lowerBound ..< bias + myOutputs.upperBound) }
        }
    }
}

extension Dense {
    /// Gemm with the kernel as Keras stores it, (inputs, units).
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toKerasLayout(input)
        var operands = [graph.current, graph.constant("kernel", shape: [inputs, units], values: graph.weight("kernel"))]
        if bias != nil { operands.append(graph.constant("bias", shape: [units], values: graph.weight("bias"))) }
        graph.node("Gemm", operands)
        graph.activation(activation)
    }
}
