// A 2-D convolution (keras.layers.Conv2D, channels_last), forward and backward
// side by side. Shapes: B images of (H, W, C) in, (OH, OW, O) out; P = OH·OW
// positions, K = kh·kw·C values per window. The kernel is (kh, kw, C, O) as
// Keras stores it, read as a (K, O) matrix: out = im2col(inp) · kernel.
// Faster algorithms where a layer's shape allows them (`build` chooses from
// the shape alone): Winograd for stride-1 3x3 layers (Winograd.swift), and
// direct loops for a one-channel input (DirectConvolution.swift), which also
// compute a 2x2 max pool right after the first layer.

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
    /// Winograd's forward pass, when the layer uses it; then the kernel's gradient
    /// comes from the same tiles (the forward keeps their transform in training).
    var winograd: WinogradConvolution?
    /// Winograd's input-gradient pass, when the layer uses it (else col2im).
    var winogradInputGradient: WinogradConvolution?
    /// A one-channel input (the first layer on gray images) is convolved by
    /// direct loops, forward and kernel gradient (see DirectConvolution.swift).
    var direct = false

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
        let g = window
        winograd = Conv2D.winogradPlan(g, filters: filters) { transform in
            WinogradConvolution(transform: transform, height: g.height, width: g.width, channels: g.channels,
                                outputHeight: g.outputHeight, outputWidth: g.outputWidth, filters: filters, padTop: g.padTop, padLeft: g.padLeft)
        }
        // dinp is dout convolved with the kernel turned 180°, its channel axes swapped, padded by 2 - pad.
        winogradInputGradient = winograd == nil ? nil : Conv2D.winogradPlan(g, filters: filters) { transform in
            WinogradConvolution(transform: transform, height: g.outputHeight, width: g.outputWidth, channels: filters,
                                outputHeight: g.height, outputWidth: g.width, filters: g.channels, padTop: 2 - g.padTop, padLeft: 2 - g.padLeft)
        }
        direct = g.channels == 1
        return [window.outputHeight, window.outputWidth, filters]
    }

    mutating func usePlainAlgorithms() { (winograd, winogradInputGradient, direct) = (nil, nil, false) }

    /// Whether this layer can compute the max pool after it too: direct loops
    /// with relu or no activation, followed by Keras' default 2x2 pool. The model
    /// fuses them only for its first trainable layer (no input gradient).
    func fusesPool(_ pool: MaxPooling2D) -> Bool {
        direct && (activation == .relu || activation == .linear) && pool.isPlainTwoByTwo
    }

    /// The algorithm of a pass, from the layer's shape alone (so a spec always
    /// runs the same arithmetic): for stride-1 3x3 windows over 8 or more
    /// channels in and out, Winograd F(4x4, 3x3) if its tiles cover the pass's
    /// output with at most 20% to spare, else F(2x2, 3x3) under the same rule;
    /// im2col with one sgemm otherwise. The one-channel first layer's K of 9 is
    /// not worth transforming, and tiles mostly over the edge cost their
    /// transforms for nothing: measured, a 28x28 layer (tiles fit exactly) trains
    /// 1.3-1.5x faster through Winograd, while mnist-cnn's 11x11 second layer lost
    /// time in its input gradient with 4x4 tiles over 13x13 (16x16). Where both
    /// fit, F(4x4) makes fewer multiplications. See docs/PERFORMANCE.md.
    static func winogradPlan(_ g: Window2D, filters: Int, _ plan: (WinogradTransform) -> WinogradConvolution) -> WinogradConvolution? {
        guard g.kernelHeight == 3, g.kernelWidth == 3, g.strideY == 1, g.strideX == 1, g.channels >= 8, filters >= 8 else { return nil }
        for transform in [WinogradTransform.f4, .f2] {
            let candidate = plan(transform)
            let covered = candidate.tilesPerImage * transform.m * transform.m
            if covered * 5 <= candidate.outputHeight * candidate.outputWidth * 6 { return candidate }
        }
        return nil
    }

    var outputActivation: Activation? { activation }
    var deferrableActivation: Activation? { activation.isElementWise ? activation : nil }
    var appliesInputActivationGradient: Bool { true }

    /// Without direct loops (the benchmark's plain algorithms), one-channel input
    /// keeps its columns transposed, (K, positions): built from long runs, read by sgemm as Aᵀ.
    var transposesColumns: Bool { window.channels == 1 }

    /// Floats between rows of the transposed columns: the workspace's whole
    /// batch in training, one thread's chunk otherwise.
    func transposedRowStride(_ io: LayerIO) -> Int { io.training ? io.scratch[0].count / window.patchSize : chunk * window.positions }

    /// Images per im2col chunk: about 1 MiB of columns and outputs, so the
    /// columns are in cache when sgemm reads them, and its outputs when the
    /// bias and activation pass reads them.
    var chunk: Int { max(1, (1 << 18) / (window.positions * (window.patchSize + filters))) }

    /// im2col: 0, the columns (the whole batch's in training, kept for the
    /// kernel's gradient; a chunk per thread otherwise; none for direct loops); 1, each thread's chunk
    /// of input gradient columns; 2, threads 1...'s partial kernel and bias
    /// gradients. Winograd: 0, the transformed kernel (the forward's, then the
    /// input gradient's); 1, each thread's transformed tiles and products;
    /// 2, every thread's partial Winograd-domain kernel gradient and bias
    /// gradient (see `partialGradientSize`); 3, each thread's chunk of columns for col2im; 4, the
    /// whole batch's transformed input tiles, kept for the kernel's gradient.
    /// Training with gelu or silu adds, last, the pre-activation values for the activation's gradient.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        algorithmScratchSizes(batch: B, threads: T, training: training) + (training && activation.needsInput ? [B * window.positions * filters] : [])
    }

    /// The pre-activation values `scratchSizes` adds, when the layer keeps them.
    private func preActivation(_ io: LayerIO) -> UnsafeMutablePointer<Float>? {
        io.training && activation.needsInput ? io.scratch.last?.pointer : nil
    }

    private func algorithmScratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        let columns = window.positions * window.patchSize
        if let forward = winograd {
            let backward = training ? winogradInputGradient.map { $0.scratchSize(images: $0.chunk) } ?? 0 : 0
            let tiles = T * max(forward.scratchSize(images: forward.chunk), backward)
            guard training else { return [forward.kernelSize, tiles] }
            let squares = forward.transform.alpha * forward.transform.alpha
            return [max(forward.kernelSize, winogradInputGradient?.kernelSize ?? 0), tiles, T * partialGradientSize,
                    winogradInputGradient == nil ? T * chunk * columns : 0, squares * B * forward.tilesPerImage * window.channels]
        }
        guard training else { return [direct ? 0 : T * chunk * columns] }
        return [direct ? 0 : B * columns, T * chunk * columns, (T - 1) * partialGradientSize]
    }

    /// Floats of one thread's partial gradients: the kernel's (Winograd's M, α²·C·O,
    /// or (K, O) through im2col), then the bias'. Through im2col thread 0 writes
    /// straight into the gradients; Winograd's M needs its own for every thread.
    var partialGradientSize: Int { (winograd?.kernelSize ?? window.patchSize * filters) + filters }

    /// Runs `plan` on `count` images from `inputs` into `outputs` on thread t,
    /// a chunk at a time, with its transformed kernel `u` and the thread's scratch.
    /// With `keptTiles` (the batch's transformed inputs, as `transformInput` lays
    /// out `batchTiles` tiles), the input tiles are transformed there, not in scratch.
    func runWinograd(_ plan: WinogradConvolution, _ context: StepContext, _ t: Int, inputs: UnsafePointer<Float>, outputs: UnsafeMutablePointer<Float>,
                     images: Range<Int>, u: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool,
                     keptTiles: UnsafeMutablePointer<Float>? = nil, batchTiles: Int = 0) {
        let chunk = plan.chunk, inputSize = plan.height * plan.width * plan.channels, C = plan.channels, O = plan.filters
        let outputSize = plan.outputHeight * plan.outputWidth * plan.filters, squares = plan.transform.alpha * plan.transform.alpha
        var s = images.lowerBound
        while s < images.upperBound {
            let n = min(chunk, images.upperBound - s), tiles = n * plan.tilesPerImage
            let (v, stride) = keptTiles.map { ($0 + s * plan.tilesPerImage * C, batchTiles * C) } ?? (scratch, tiles * C)
            let products = scratch + squares * tiles * C
            plan.transformInput(v, images: inputs + s * inputSize, count: n, stride: stride)
            for xi in 0 ..< squares {
                context.sgemm(t, m: tiles, n: O, k: C, a: v + xi * stride, lda: C, b: u + xi * C * O, ldb: O, c: products + xi * tiles * O, ldc: O)
            }
            plan.transformOutput(outputs + s * outputSize, products: products, count: n, bias: bias, relu: relu)
            s += n
        }
    }

    /// dinp = col2im(dout · kernelᵀ) for thread t's images, a chunk at a time
    /// through `dcols`; then the previous layer's deferred activation gradient.
    func inputGradientByCol2im(_ io: LayerIO, _ context: StepContext, _ t: Int, dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                               images: Range<Int>, dcols: UnsafeMutablePointer<Float>) {
        let g = window, P = g.positions, K = g.patchSize, O = filters, chunk = chunk, w = UnsafePointer(context.parameters)
        (dinp + images.lowerBound * g.inputSize).update(repeating: 0, count: images.count * g.inputSize)
        var s = images.lowerBound
        while s < images.upperBound {
            let n = min(chunk, images.upperBound - s)
            context.sgemm(t, transposeB: true, m: n * P, n: K, k: O, a: dout + s * P * O, lda: O, b: w + kernel, ldb: O, c: dcols, ldc: K)
            for j in 0 ..< n { col2im(dinp + (s + j) * g.inputSize, dcols + j * P * K, g) }
            s += n
        }
        io.applyInputActivationGradient(rows: images, width: g.inputSize)
    }

    /// Each thread takes its images a chunk at a time: im2col, one sgemm with
    /// the kernel, then bias and activation in one pass.
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let g = window, P = g.positions, K = g.patchSize, O = filters, chunk = chunk
        let w = UnsafePointer(context.parameters), bias = bias.map { w + $0 }
        let activation = io.forwardActivation(activation), columns = io.scratch[0].pointer, preActivation = preActivation(io)
        if let plan = winograd {
            // The kernel's transform, its input channels split between the threads; then each thread's images.
            let u = io.scratch[0].pointer, T = context.threads, perThread = io.scratch[1].count / T
            context.run { t in plan.transformKernel(u, kernel: w + kernel, rows: partition(g.channels, parts: T, part: t, alignment: 1), flipped: false) }
            let kept = io.training ? io.scratch[4].pointer : nil
            context.run(rows: io.B) { t, images in
                runWinograd(plan, context, t, inputs: io.inp, outputs: io.out, images: images, u: u, scratch: io.scratch[1].pointer + t * perThread,
                            bias: bias, relu: activation == .relu, keptTiles: kept, batchTiles: io.B * plan.tilesPerImage)
                if activation != .relu, activation != .linear, !images.isEmpty {
                    biasActivation(io.out + images.lowerBound * P * O, rows: images.count * P, stride: O, n: O, bias: nil, activation: activation,
                                   keeping: preActivation.map { $0 + images.lowerBound * P * O })
                }
            }
            return
        }
        if direct, let pool = io.pool {
            let pooledSize = pool.window.positions * O
            context.run(rows: io.B) { _, images in
                for n in images {
                    directConvolutionPooled(pool.out + n * pooledSize, argmax: pool.argmax.map { $0 + n * pooledSize }, image: io.inp + n * g.inputSize,
                                            kernel: w + kernel, bias: bias, relu: activation == .relu, filters: O, g, pool: pool.window)
                }
            }
            return
        }
        if direct {
            context.run(rows: io.B) { t, images in
                for n in images {
                    directConvolution(io.out + n * P * O, image: io.inp + n * g.inputSize, kernel: w + kernel, bias: bias, relu: activation == .relu, filters: O, g)
                }
                if activation != .relu, activation != .linear, !images.isEmpty {
                    biasActivation(io.out + images.lowerBound * P * O, rows: images.count * P, stride: O, n: O, bias: nil, activation: activation,
                                   keeping: preActivation.map { $0 + images.lowerBound * P * O })
                }
            }
            return
        }
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
                biasActivation(out, rows: n * P, stride: O, n: O, bias: bias, activation: activation, keeping: preActivation.map { $0 + s * P * O })
                s += n
            }
        }
    }

    /// Two phases (three with a Winograd input gradient, whose turned kernel is
    /// transformed first). Each thread, on its images: the activation's gradient
    /// on dout; dinp through Winograd or as col2im(dout · kernelᵀ), a chunk at a
    /// time (skipped for the first layer); its partial dkernel = colsᵀ · dout and
    /// dbias = column sums of dout. Then, once no thread reads the kernel any
    /// more, each thread adds the partials (in thread order) for its rows of the
    /// kernel and updates them.
    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dout = io.dout else { return }
        let g = window, P = g.positions, K = g.patchSize, O = filters, chunk = chunk, T = context.threads
        let w = UnsafePointer(context.parameters), dw = context.parameterGradients, activation = activation
        let columns = UnsafePointer(io.scratch[0].pointer), partials = io.scratch[2].pointer
        let ownActivation = io.needsOwnActivationGradient(activation)
        if let plan = winogradInputGradient, io.dinp != nil {
            // The turned kernel's transform, before any thread needs it and while the kernel is unchanged.
            let u = io.scratch[0].pointer
            context.run { t in plan.transformKernel(u, kernel: w + kernel, rows: partition(O, parts: T, part: t, alignment: 1), flipped: true) }
        }
        let partialSize = partialGradientSize, kernelPart = partialSize - O
        let partial = { (t: Int) in partials + (winograd != nil ? t : t - 1) * partialSize }
        context.run(rows: io.B) { t, images in
            let dkernel = winograd == nil && t == 0 ? dw + kernel : partial(t)
            let dbias = t == 0 ? bias.map { dw + $0 } : partial(t) + kernelPart
            guard !images.isEmpty else {
                dkernel.update(repeating: 0, count: kernelPart)
                dbias?.update(repeating: 0, count: O)
                return
            }
            if let pool = io.pool, let dpooled = pool.dout, let argmax = pool.argmax {
                // The convolution's output gradient is rebuilt from the pool's, inside the loops.
                let pooledSize = pool.window.positions * O
                dkernel.update(repeating: 0, count: kernelPart)
                dbias?.update(repeating: 0, count: O)
                for n in images {
                    directKernelGradientPooled(dkernel, dbias: dbias, image: io.inp + n * g.inputSize, pooled: pool.out + n * pooledSize,
                                               dpooled: dpooled + n * pooledSize, argmax: argmax + n * pooledSize, relu: activation == .relu, filters: O, g, pool: pool.window)
                }
                return
            }
            let firstRow = images.lowerBound * P, rows = images.count * P
            if ownActivation {
                activationBackward(dinp: dout + firstRow * O, dout: dout + firstRow * O, out: io.out + firstRow * O,
                                   inp: preActivation(io).map { UnsafePointer($0) + firstRow * O }, B: rows, C: O, activation: activation)
            }
            if let dinp = io.dinp {
                if let plan = winogradInputGradient {
                    let perThread = io.scratch[1].count / T
                    runWinograd(plan, context, t, inputs: dout, outputs: dinp, images: images, u: io.scratch[0].pointer,
                                scratch: io.scratch[1].pointer + t * perThread, bias: nil, relu: false)
                    io.applyInputActivationGradient(rows: images, width: g.inputSize)
                } else {
                    let dcols = (winograd != nil ? io.scratch[3] : io.scratch[1]).pointer + t * chunk * P * K
                    inputGradientByCol2im(io, context, t, dinp: dinp, dout: dout, images: images, dcols: dcols)
                }
            }
            if let plan = winograd {
                // M[ξ] = Σ V[ξ]ᵀ Y[ξ] over the thread's tiles, a chunk at a time, V kept by the forward pass.
                let tilesPerImage = plan.tilesPerImage, batchStride = io.B * tilesPerImage * g.channels, squares = plan.transform.alpha * plan.transform.alpha
                let y = io.scratch[1].pointer + t * (io.scratch[1].count / T), kept = UnsafePointer(io.scratch[4].pointer)
                var s = images.lowerBound
                while s < images.upperBound {
                    let n = min(plan.chunk, images.upperBound - s), tiles = n * tilesPerImage
                    plan.transformOutputGradient(y, gradients: dout + s * P * O, count: n)
                    for xi in 0 ..< squares {
                        context.sgemm(t, transposeA: true, m: g.channels, n: O, k: tiles, a: kept + xi * batchStride + s * tilesPerImage * g.channels, lda: g.channels,
                                      b: y + xi * tiles * O, ldb: O, beta: s == images.lowerBound ? 0 : 1, c: dkernel + xi * g.channels * O, ldc: O)
                    }
                    s += n
                }
            } else if direct {
                dkernel.update(repeating: 0, count: kernelPart)
                for n in images {
                    directKernelGradient(dkernel, image: io.inp + n * g.inputSize, dout: dout + n * P * O, filters: O, g)
                }
            } else if transposesColumns {
                context.sgemm(t, m: K, n: O, k: rows, a: columns + firstRow, lda: transposedRowStride(io), b: dout + firstRow * O, ldb: O, c: dkernel, ldc: O)
            } else {
                context.sgemm(t, transposeA: true, m: K, n: O, k: rows, a: columns + firstRow * K, lda: K, b: dout + firstRow * O, ldb: O, c: dkernel, ldc: O)
            }
            if let dbias { columnSums(dbias, rows: dout + firstRow * O, B: rows, stride: O, n: O) }
        }
        context.run { t in
            let mine = partition(K, parts: T, part: t, alignment: 1), myOutputs = partition(O, parts: T, part: t, alignment: 1)
            winograd?.kernelGradient(dw + kernel, partials: partials, count: T, stride: partialSize, rows: mine)
            for other in 1 ..< T {
                let theirs = UnsafePointer(partial(other))
                if winograd == nil { for k in mine.lowerBound * O ..< mine.upperBound * O { dw[kernel + k] += theirs[k] } }
                if let bias { for o in myOutputs { dw[bias + o] += theirs[kernelPart + o] } }
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
