// keras.layers.SeparableConv2D (channels_last): a depthwise convolution (no
// bias, no activation) then a 1x1 convolution mixing the channels, then bias
// and activation, forward and backward side by side. Shapes: B images of
// (H, W, C) in, the depthwise values (P, J = C·dm) in between (kept in
// scratch), (OH, OW, F) out. The depthwise part is direct loops
// (Tensor/Depthwise.swift); the pointwise part is one sgemm per thread,
// (rows, J) · (J, F). Variables as Keras names them: depthwise_kernel
// (kh, kw, C, dm), pointwise_kernel (1, 1, J, F), bias (F).

struct SeparableConv2D: Layer {
    static let typeName = "separable_conv2d"
    static let argumentNames = ["filters", "kernel_size", "strides", "padding", "depth_multiplier", "activation", "use_bias",
                                "depthwise_initializer", "pointwise_initializer", "bias_initializer"]

    var filters: Int
    var depthwise: DepthwiseArguments
    var pointwiseInitializer: Initializer
    // Resolved by `build`.
    var window = Window2D()
    var depthwiseKernel = 0
    var pointwiseKernel = 0
    var bias: Int?

    init(spec: SpecObject) throws(ConfigError) {
        filters = try spec.integer("filters", default: nil, expected: "a positive integer, at most 4096") { $0 > 0 && $0 <= 4096 }
        depthwise = try DepthwiseArguments(spec: spec)
        pointwiseInitializer = try spec.choice("pointwise_initializer", default: .glorotUniform, noun: "initializer")
    }

    var kernelSize: [Int] { depthwise.kernelSize }
    var strides: [Int] { depthwise.strides }
    var depthMultiplier: Int { depthwise.depthMultiplier }
    var activation: Activation { depthwise.activation }

    var arguments: [(key: String, value: JSONValue)] {
        [("filters", .number(Double(filters)))] + depthwise.arguments(pointwise: pointwiseInitializer)
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        (window, depthwiseKernel) = try depthwise.build(input, kernelName: "depthwise_kernel", layer: Self.typeName, path: path, variables: &variables)
        pointwiseKernel = try variables.declare("pointwise_kernel", shape: [1, 1, middle, filters], initializer: pointwiseInitializer,
                                                fanIn: middle, fanOut: filters, path: path + ".filters")
        bias = depthwise.useBias ? try variables.declare("bias", shape: [filters], initializer: depthwise.biasInitializer, path: path + ".filters") : nil
        return [window.outputHeight, window.outputWidth, filters]
    }

    var outputActivation: Activation? { activation }
    /// Channels between the two parts.
    var middle: Int { window.channels * depthMultiplier }
    var depthwiseCount: Int { kernelSize[0] * kernelSize[1] * middle }

    /// 0, the depthwise values (the batch's). Training adds: 1, their gradient; 2, every
    /// thread's partial depthwise kernel gradient; 3, every thread's partial pointwise kernel
    /// and bias gradients; then, with gelu or silu, the pre-activation values.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        let values = B * window.positions * middle
        guard training else { return [values] }
        return [values, values, T * depthwiseCount, T * (middle * filters + filters)]
            + (activation.needsInput ? [B * window.positions * filters] : [])
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, J = middle, F = filters, P = g.positions, dm = depthMultiplier, activation = io.forwardActivation(activation)
        let w = UnsafePointer(context.parameters), bias = bias.map { w + $0 }, values = io.scratch[0].pointer
        let keeping = io.training && activation.needsInput ? io.scratch[4].pointer : nil
        context.run(rows: io.B) { t, images in
            guard !images.isEmpty else { return }
            for n in images { depthwiseForward(values + n * P * J, image: io.inp + n * g.inputSize, kernel: w + depthwiseKernel, multiplier: dm, g) }
            let first = images.lowerBound * P, rows = images.count * P
            context.sgemm(t, m: rows, n: F, k: J, a: values + first * J, lda: J, b: w + pointwiseKernel, ldb: F, c: io.out + first * F, ldc: F)
            biasActivation(io.out + first * F, rows: rows, stride: F, n: F, bias: bias, activation: activation, keeping: keeping.map { $0 + first * F })
        }
    }

    /// Each thread, on its images: the activation's gradient; the depthwise values' gradient
    /// (dout · pointwiseᵀ) and the partial pointwise and bias gradients (valuesᵀ · dout, column
    /// sums); then dinp and the partial depthwise gradient through the loops. The partials are
    /// then added in thread order and the slices updated.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let g = window, J = middle, F = filters, P = g.positions, dm = depthMultiplier, depthwiseCount = depthwiseCount
        let w = UnsafePointer(context.parameters), dw = context.parameterGradients
        let values = UnsafePointer(io.scratch[0].pointer), dvalues = io.scratch[1].pointer
        let depthwisePartials = io.scratch[2].pointer, pointwisePartials = io.scratch[3].pointer, pointwiseStride = J * F + F
        let activation = io.forwardActivation(activation), own = io.needsOwnActivationGradient(activation)
        let preActivation = io.training && activation.needsInput ? UnsafePointer(io.scratch[4].pointer) : nil
        context.run(rows: io.B) { t, images in
            let dDepthwise = depthwisePartials + t * depthwiseCount, dPointwise = pointwisePartials + t * pointwiseStride
            dDepthwise.update(repeating: 0, count: depthwiseCount)
            guard !images.isEmpty else {
                dPointwise.update(repeating: 0, count: pointwiseStride)
                return
            }
            let first = images.lowerBound * P, rows = images.count * P
            if own {
                activationBackward(dinp: dout + first * F, dout: dout + first * F, out: io.out + first * F, inp: preActivation.map { $0 + first * F },
                                   B: rows, C: F, activation: activation)
            }
            context.sgemm(t, transposeB: true, m: rows, n: J, k: F, a: dout + first * F, lda: F, b: w + pointwiseKernel, ldb: F, c: dvalues + first * J, ldc: J)
            context.sgemm(t, transposeA: true, m: J, n: F, k: rows, a: values + first * J, lda: J, b: dout + first * F, ldb: F, c: dPointwise, ldc: F)
            columnSums(dPointwise + J * F, rows: dout + first * F, B: rows, stride: F, n: F)
            for n in images {
                let d = UnsafePointer(dvalues + n * P * J)
                if let dinp = io.dinp { depthwiseInputGradient(dinp + n * g.inputSize, dout: d, kernel: w + depthwiseKernel, multiplier: dm, g) }
                depthwiseKernelGradient(dDepthwise, image: io.inp + n * g.inputSize, dout: d, multiplier: dm, g)
            }
        }
        addPartialGradients(pointwisePartials, count: context.threads, into: dw, kernel: pointwiseKernel, kernelCount: J * F,
                            bias: bias, biasCount: F, context)
        addPartialGradients(depthwisePartials, count: context.threads, into: dw, kernel: depthwiseKernel, kernelCount: depthwiseCount,
                            bias: nil, biasCount: 0, context)
    }

    /// A grouped Conv (one group per input channel) then a 1x1 Conv, on channels-first values.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        let (kh, kw, C, J, F) = (kernelSize[0], kernelSize[1], window.channels, middle, filters)
        let depthwise = graph.weight("depthwise_kernel"), pointwise = graph.weight("pointwise_kernel")
        var turned = [Float](repeating: 0, count: depthwise.count)
        for j in 0 ..< J { for y in 0 ..< kh { for x in 0 ..< kw { turned[(j * kh + y) * kw + x] = depthwise[(y * kw + x) * J + j] } } }
        graph.node("Conv", [graph.current, graph.constant("depthwise_kernel", shape: [J, 1, kh, kw], values: turned)],
                   attributes: [.ints("kernel_shape", kernelSize), .ints("strides", strides), .int("group", C),
                                .ints("pads", ONNXGraph.pads(window)), .ints("dilations", [1, 1])])
        var mixing = [Float](repeating: 0, count: pointwise.count)
        for f in 0 ..< F { for j in 0 ..< J { mixing[f * J + j] = pointwise[j * F + f] } }
        var operands = [graph.current, graph.constant("pointwise_kernel", shape: [F, J, 1, 1], values: mixing)]
        if bias != nil { operands.append(graph.constant("bias", shape: [F], values: graph.weight("bias"))) }
        graph.node("Conv", operands, attributes: [.ints("kernel_shape", [1, 1])])
        graph.activation(activation)
    }
}
