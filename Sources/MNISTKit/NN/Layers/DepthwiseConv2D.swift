// keras.layers.DepthwiseConv2D (channels_last): each input channel convolved
// with its own `depth_multiplier` filters, forward and backward side by side.
// Shapes: B images of (H, W, C) in, (OH, OW, C·dm) out; the kernel is
// (kh, kw, C, dm) as Keras stores it. Direct loops (Tensor/Depthwise.swift):
// with one small kernel per channel there is no product for sgemm.
// `dilation_rate` is left out, as in conv2d (docs/SPEC.md says why).

struct DepthwiseConv2D: Layer {
    static let typeName = "depthwise_conv2d"
    static let argumentNames = ["kernel_size", "strides", "padding", "depth_multiplier", "activation", "use_bias",
                                "depthwise_initializer", "bias_initializer"]

    var depthwise: DepthwiseArguments
    // Resolved by `build`.
    var window = Window2D()
    var kernel = 0
    var bias: Int?

    init(spec: SpecObject) throws(ConfigError) { depthwise = try DepthwiseArguments(spec: spec) }

    var kernelSize: [Int] { depthwise.kernelSize }
    var strides: [Int] { depthwise.strides }
    var depthMultiplier: Int { depthwise.depthMultiplier }
    var activation: Activation { depthwise.activation }

    var arguments: [(key: String, value: JSONValue)] { depthwise.arguments() }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        (window, kernel) = try depthwise.build(input, kernelName: "kernel", layer: Self.typeName, path: path, variables: &variables)
        bias = depthwise.useBias ? try variables.declare("bias", shape: [outputWidth], initializer: depthwise.biasInitializer, path: path + ".depth_multiplier") : nil
        return [window.outputHeight, window.outputWidth, outputWidth]
    }

    var outputActivation: Activation? { activation }
    var outputWidth: Int { window.channels * depthMultiplier }
    var kernelCount: Int { kernelSize[0] * kernelSize[1] * outputWidth }

    /// Training: 0, every thread's partial kernel and bias gradients; then, with gelu or silu, the pre-activation values.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        guard training else { return [] }
        return [T * (kernelCount + outputWidth)] + (activation.needsInput ? [B * window.positions * outputWidth] : [])
    }

    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, J = outputWidth, P = g.positions, dm = depthMultiplier, activation = io.forwardActivation(activation)
        let w = UnsafePointer(context.parameters), bias = bias.map { w + $0 }
        let keeping = io.training && activation.needsInput ? io.scratch[1].pointer : nil
        context.run(rows: io.B) { _, images in
            for n in images { depthwiseForward(io.out + n * P * J, image: io.inp + n * g.inputSize, kernel: w + kernel, multiplier: dm, g) }
            guard !images.isEmpty else { return }
            biasActivation(io.out + images.lowerBound * P * J, rows: images.count * P, stride: J, n: J, bias: bias, activation: activation,
                           keeping: keeping.map { $0 + images.lowerBound * P * J })
        }
    }

    /// Each thread, on its images: the activation's gradient, dinp, and its partial kernel and
    /// bias gradients; then the partials are added in thread order and the slices updated.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let g = window, J = outputWidth, P = g.positions, dm = depthMultiplier, kernelCount = kernelCount
        let w = UnsafePointer(context.parameters), dw = context.parameterGradients, partials = io.scratch[0].pointer
        let activation = io.forwardActivation(activation), own = io.needsOwnActivationGradient(activation)
        let preActivation = io.training && activation.needsInput ? UnsafePointer(io.scratch[1].pointer) : nil
        context.run(rows: io.B) { t, images in
            let dkernel = partials + t * (kernelCount + J), dbias = dkernel + kernelCount
            dkernel.update(repeating: 0, count: kernelCount + J)
            guard !images.isEmpty else { return }
            let first = images.lowerBound * P * J
            if own {
                activationBackward(dinp: dout + first, dout: dout + first, out: io.out + first, inp: preActivation.map { $0 + first },
                                   B: images.count * P, C: J, activation: activation)
            }
            for n in images {
                if let dinp = io.dinp { depthwiseInputGradient(dinp + n * g.inputSize, dout: dout + n * P * J, kernel: w + kernel, multiplier: dm, g) }
                depthwiseKernelGradient(dkernel, image: io.inp + n * g.inputSize, dout: dout + n * P * J, multiplier: dm, g)
            }
            columnSums(dbias, rows: dout + first, B: images.count * P, stride: J, n: J)
        }
        addPartialGradients(partials, count: context.threads, into: dw, kernel: kernel, kernelCount: kernelCount, bias: bias, biasCount: J, context)
    }

    /// Depthwise Conv on channels-first values: a Conv with one group per input channel,
    /// the kernel turned from Keras' (kh, kw, C, dm) to ONNX's (C·dm, 1, kh, kw).
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        let (kh, kw, C, dm) = (kernelSize[0], kernelSize[1], window.channels, depthMultiplier)
        let keras = graph.weight("kernel")
        var turned = [Float](repeating: 0, count: keras.count)
        for j in 0 ..< C * dm { for y in 0 ..< kh { for x in 0 ..< kw { turned[(j * kh + y) * kw + x] = keras[(y * kw + x) * C * dm + j] } } }
        var operands = [graph.current, graph.constant("kernel", shape: [C * dm, 1, kh, kw], values: turned)]
        if bias != nil { operands.append(graph.constant("bias", shape: [C * dm], values: graph.weight("bias"))) }
        graph.node("Conv", operands, attributes: [.ints("kernel_shape", kernelSize), .ints("strides", strides), .int("group", C),
                                                 .ints("pads", ONNXGraph.pads(window)), .ints("dilations", [1, 1])])
        graph.activation(activation)
    }
}

/// The arguments `depthwise_conv2d` and `separable_conv2d` share, read with Keras' defaults,
/// and their depthwise kernel's declaration.
struct DepthwiseArguments: Sendable {
    var kernelSize: [Int]
    var strides: [Int]
    var padding: Padding
    var depthMultiplier: Int
    var activation: Activation
    var useBias: Bool
    var depthwiseInitializer: Initializer
    var biasInitializer: Initializer

    init(spec: SpecObject) throws(ConfigError) {
        kernelSize = try spec.pair("kernel_size", default: nil)
        strides = try spec.pair("strides", default: [1, 1])
        padding = try spec.choice("padding", default: .valid, noun: "padding")
        depthMultiplier = try spec.integer("depth_multiplier", default: 1, expected: "a positive integer, at most 256") { $0 > 0 && $0 <= 256 }
        activation = try spec.choice("activation", default: .linear, noun: "activation")
        useBias = try spec.bool("use_bias", default: true)
        depthwiseInitializer = try spec.choice("depthwise_initializer", default: .glorotUniform, noun: "initializer")
        biasInitializer = try spec.choice("bias_initializer", default: .zeros, noun: "initializer")
    }

    /// In Keras' order; `pointwise` (separable_conv2d's initializer) goes before the bias initializer.
    func arguments(pointwise: Initializer? = nil) -> [(key: String, value: JSONValue)] {
        [("kernel_size", kernelSize.json), ("strides", strides.json), ("padding", .string(padding.rawValue)),
         ("depth_multiplier", .number(Double(depthMultiplier))), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("depthwise_initializer", .string(depthwiseInitializer.rawValue))]
            + (pointwise.map { [("pointwise_initializer", JSONValue.string($0.rawValue))] } ?? [])
            + [("bias_initializer", .string(biasInitializer.rawValue))]
    }

    /// The window over the input, checked, and the depthwise kernel (kh, kw, C, dm) declared as `kernelName`.
    func build(_ input: [Int], kernelName: String, layer: String, path: String,
               variables: inout VariableLayout) throws(ConfigError) -> (window: Window2D, kernel: Int) {
        let image = try imageShape(input, layer: layer, path: path)
        let window = Window2D(height: image.height, width: image.width, channels: image.channels, kernel: kernelSize, strides: strides, padding: padding)
        guard window.positions > 0 else {
            throw ConfigError(path: path + ".kernel_size", message: "a \(kernelSize[0])x\(kernelSize[1]) kernel does not fit the input \(formatShape(input)) with padding \"valid\"")
        }
        let receptiveField = kernelSize[0] * kernelSize[1]
        let kernel = try variables.declare(kernelName, shape: [kernelSize[0], kernelSize[1], image.channels, depthMultiplier], initializer: depthwiseInitializer,
                                           fanIn: receptiveField * image.channels, fanOut: receptiveField * depthMultiplier, path: path + ".depth_multiplier")
        return (window, kernel)
    }
}

/// Adds every thread's partial gradients (each `kernelCount` kernel values, then
/// `biasCount` bias values) in thread order into the gradients, a share of the
/// rows per thread, and updates each slice once it is final.
func addPartialGradients(_ partials: UnsafeMutablePointer<Float>, count T: Int, into dw: UnsafeMutablePointer<Float>, kernel: Int, kernelCount: Int,
                         bias: Int?, biasCount: Int, _ context: StepContext) {
    let stride = kernelCount + biasCount
    context.run { t in
        let mine = partition(kernelCount, parts: T, part: t, alignment: 1), myBias = partition(biasCount, parts: T, part: t, alignment: 1)
        for k in mine {
            var sum = partials[k]
            for other in 1 ..< T { sum += partials[other * stride + k] }
            dw[kernel + k] = sum
        }
        context.update(kernel + mine.lowerBound ..< kernel + mine.upperBound)
        guard let bias else { return }
        for k in myBias {
            var sum = partials[kernelCount + k]
            for other in 1 ..< T { sum += partials[other * stride + kernelCount + k] }
            dw[bias + k] = sum
        }
        context.update(bias + myBias.lowerBound ..< bias + myBias.upperBound)
    }
}
