// A 2-D convolution (keras.layers.Conv2D, channels_last), forward and backward
// side by side. Shapes: B images of (H, W, C) in, (OH, OW, O) out; P = OH·OW
// positions, K = kh·kw·C values per window. The kernel is (kh, kw, C, O) as
// Keras stores it, read as a (K, O) matrix: out = im2col(inp) · kernel.

struct Conv2D: Layer {
    static let typeName = "conv2d"
    static let argumentNames = ["filters", "kernel_size", "strides", "padding", "activation", "use_bias",
                                "kernel_initializer", "bias_initializer"]

    var filters: Int
    var kernelSize: [Int]
    var strides: [Int]
    var padding: Padding
    var activation: Activation
    var useBias: Bool
    var kernelInitializer: Initializer
    var biasInitializer: Initializer
    // Resolved by `build`.
    var window = Window2D()
    var kernel = 0
    var bias: Int?

    init(spec: SpecObject) throws(ConfigError) {
        filters = try spec.integer("filters", default: nil, expected: "a positive integer, at most 4096") { $0 > 0 && $0 <= 4096 }
        kernelSize = try spec.pair("kernel_size", default: nil)
        strides = try spec.pair("strides", default: [1, 1])
        padding = try spec.choice("padding", default: .valid, noun: "padding")
        activation = try spec.choice("activation", default: .linear, noun: "activation")
        useBias = try spec.bool("use_bias", default: true)
        kernelInitializer = try spec.choice("kernel_initializer", default: .glorotUniform, noun: "initializer")
        biasInitializer = try spec.choice("bias_initializer", default: .zeros, noun: "initializer")
    }

    var arguments: [(key: String, value: JSONValue)] {
        [("filters", .number(Double(filters))), ("kernel_size", kernelSize.json), ("strides", strides.json),
         ("padding", .string(padding.rawValue)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("kernel_initializer", .string(kernelInitializer.rawValue)), ("bias_initializer", .string(biasInitializer.rawValue))]
    }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        let image = try imageShape(input, layer: "conv2d", path: path)
        window = Window2D(height: image.height, width: image.width, channels: image.channels, kernel: kernelSize, strides: strides, padding: padding)
        guard window.positions > 0 else {
            throw ConfigError(path: path + ".kernel_size", message: "a \(kernelSize[0])x\(kernelSize[1]) kernel does not fit the input \(formatShape(input)) with padding \"valid\"")
        }
        guard window.positions * window.patchSize <= Model.maximumWidth * 64 else {
            throw ConfigError(path: path, message: "the windows of \(formatShape(input)) under a \(kernelSize[0])x\(kernelSize[1]) kernel hold \(window.positions * window.patchSize) values per image, more than the \(Model.maximumWidth * 64) this tool supports")
        }
        let receptiveField = kernelSize[0] * kernelSize[1]
        kernel = try variables.declare("kernel", shape: [kernelSize[0], kernelSize[1], image.channels, filters], initializer: kernelInitializer,
                                       fanIn: receptiveField * image.channels, fanOut: receptiveField * filters, path: path + ".filters")
        bias = useBias ? try variables.declare("bias", shape: [filters], initializer: biasInitializer, path: path + ".filters") : nil
        return [window.outputHeight, window.outputWidth, filters]
    }

    var outputActivation: Activation? { activation }
    var deferrableActivation: Activation? { activation.isElementWise ? activation : nil }
    var appliesInputActivationGradient: Bool { true }

    /// One-channel input (the first layer on gray images) keeps its columns
    /// transposed, (K, positions): built from long runs, read by sgemm as Aᵀ.
    var transposesColumns: Bool { window.channels == 1 }

    /// Floats between rows of the transposed columns: the workspace's whole
    /// batch in training, one thread's chunk otherwise.
    func transposedRowStride(_ io: LayerIO) -> Int { io.training ? io.scratch[0].count / window.patchSize : chunk * window.positions }

    /// Images per im2col chunk: about 1 MiB of columns and outputs, so the
    /// columns are in cache when sgemm reads them, and its outputs when the
    /// bias and activation pass reads them.
    var chunk: Int { max(1, (1 << 18) / (window.positions * (window.patchSize + filters))) }

    /// 0: the columns (the whole batch's in training, kept for the kernel's
    /// gradient; a chunk per thread otherwise). 1: each thread's chunk of input
    /// gradient columns. 2: threads 1...'s partial kernel and bias gradients.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        let columns = window.positions * window.patchSize
        guard training else { return [T * chunk * columns] }
        return [B * columns, T * chunk * columns, (T - 1) * (window.patchSize + 1) * filters]
    }

    /// Each thread takes its images a chunk at a time: im2col, one sgemm with
    /// the kernel, then bias and activation in one pass.
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, P = g.positions, K = g.patchSize, O = filters, chunk = chunk
        let w = UnsafePointer(context.parameters), bias = bias.map { w + $0 }
        let activation = io.forwardActivation(activation), columns = io.scratch[0].pointer
        let transposed = transposesColumns, rowStride = transposedRowStride(io)
        context.run(rows: io.B) { t, images in
            var s = images.lowerBound
            while s < images.upperBound {
                let n = min(chunk, images.upperBound - s)
                let out = io.out + s * P * O
                if transposed {
                    // Columns (K, positions): image s + j at column (s + j)·P (training) or j·P.
                    let cols = io.training ? columns + s * P : columns + t * chunk * P * K
                    for j in 0 ..< n { im2colTransposed(cols + j * P, rowStride: rowStride, io.inp + (s + j) * g.inputSize, g) }
                    context.sgemm(t, transposeA: true, m: n * P, n: O, k: K, a: cols, lda: rowStride, b: w + kernel, ldb: O, c: out, ldc: O)
                } else {
                    let cols = io.training ? columns + s * P * K : columns + t * chunk * P * K
                    for j in 0 ..< n { im2col(cols + j * P * K, io.inp + (s + j) * g.inputSize, g) }
                    context.sgemm(t, m: n * P, n: O, k: K, a: cols, lda: K, b: w + kernel, ldb: O, c: out, ldc: O)
                }
                biasActivation(out, rows: n * P, stride: O, n: O, bias: bias, activation: activation)
                s += n
            }
        }
    }

    /// Two phases. Each thread, on its images: the activation's gradient on
    /// dout; dinp = col2im(dout · kernelᵀ), a chunk at a time (skipped for the
    /// first layer); its partial dkernel = colsᵀ · dout and dbias = column sums
    /// of dout. Then, once no thread reads the kernel any more, each thread adds
    /// the partials (in thread order) for its rows of the kernel and updates them.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let g = window, P = g.positions, K = g.patchSize, O = filters, chunk = chunk, T = context.threads
        let w = UnsafePointer(context.parameters), dw = context.parameterGradients, activation = activation
        let columns = UnsafePointer(io.scratch[0].pointer), partials = io.scratch[2].pointer
        let ownActivation = io.needsOwnActivationGradient(activation)
        context.run(rows: io.B) { t, images in
            let dkernel = t == 0 ? dw + kernel : partials + (t - 1) * (K + 1) * O
            let dbias = t == 0 ? bias.map { dw + $0 } : dkernel + K * O
            guard !images.isEmpty else {
                dkernel.update(repeating: 0, count: K * O)
                dbias?.update(repeating: 0, count: O)
                return
            }
            let firstRow = images.lowerBound * P, rows = images.count * P
            if ownActivation {
                activationBackward(dinp: dout + firstRow * O, dout: dout + firstRow * O, out: io.out + firstRow * O, B: rows, C: O, activation: activation)
            }
            if let dinp = io.dinp {
                let dcols = io.scratch[1].pointer + t * chunk * P * K
                let mine = dinp + images.lowerBound * g.inputSize
                mine.update(repeating: 0, count: images.count * g.inputSize)
                var s = images.lowerBound
                while s < images.upperBound {
                    let n = min(chunk, images.upperBound - s)
                    context.sgemm(t, transposeB: true, m: n * P, n: K, k: O, a: dout + s * P * O, lda: O, b: w + kernel, ldb: O, c: dcols, ldc: K)
                    for j in 0 ..< n { col2im(dinp + (s + j) * g.inputSize, dcols + j * P * K, g) }
                    s += n
                }
                io.applyInputActivationGradient(rows: images, width: g.inputSize)
            }
            if transposesColumns {
                context.sgemm(t, m: K, n: O, k: rows, a: columns + firstRow, lda: transposedRowStride(io), b: dout + firstRow * O, ldb: O, c: dkernel, ldc: O)
            } else {
                context.sgemm(t, transposeA: true, m: K, n: O, k: rows, a: columns + firstRow * K, lda: K, b: dout + firstRow * O, ldb: O, c: dkernel, ldc: O)
            }
            if let dbias { columnSums(dbias, rows: dout + firstRow * O, B: rows, stride: O, n: O) }
        }
        context.run { t in
            let mine = partition(K, parts: T, part: t, alignment: 1), myOutputs = partition(O, parts: T, part: t, alignment: 1)
            for other in 1 ..< T {
                let partial = UnsafePointer(partials + (other - 1) * (K + 1) * O)
                for k in mine.lowerBound * O ..< mine.upperBound * O { dw[kernel + k] += partial[k] }
                if let bias { for o in myOutputs { dw[bias + o] += partial[K * O + o] } }
            }
            context.update(kernel + mine.lowerBound * O ..< kernel + mine.upperBound * O)
            if let bias { context.update(bias + myOutputs.lowerBound ..< bias + myOutputs.upperBound) }
        }
    }
}

extension Conv2D {
    /// Conv on channels-first values, the kernel turned from Keras' (kh, kw, in, out) to ONNX's (out, in, kh, kw).
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {
        graph.toChannelsFirst(input)
        let (kh, kw, C, O) = (kernelSize[0], kernelSize[1], window.channels, filters)
        let keras = graph.weight("kernel")
        var kernel = [Float](repeating: 0, count: keras.count)
        for o in 0 ..< O { for c in 0 ..< C { for y in 0 ..< kh { for x in 0 ..< kw {
            kernel[((o * C + c) * kh + y) * kw + x] = keras[((y * kw + x) * C + c) * O + o]
        } } } }
        var operands = [graph.current, graph.constant("kernel", shape: [O, C, kh, kw], values: kernel)]
        if bias != nil { operands.append(graph.constant("bias", shape: [O], values: graph.weight("bias"))) }
        graph.node("Conv", operands, attributes: [.ints("kernel_shape", kernelSize), .ints("strides", strides),
                                                 .ints("pads", ONNXGraph.pads(window)), .ints("dilations", [1, 1])])
        graph.activation(activation)
    }
}
