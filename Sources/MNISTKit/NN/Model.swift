/// One row of the Keras-style summary.
public struct LayerSummary: Equatable, Sendable {
    /// The layer's name, as its variables are prefixed (`dense_1`).
    public let name: String
    /// The class name Keras prints (`Dense`).
    public let kind: String
    /// The output shape of one sample.
    public let outputShape: [Int]
    /// Its number of weights, trainable or not.
    public let parameterCount: Int
    /// The layers (or `input`) it reads, in a model whose spec names inputs; nil in a stack.
    public var inputs: [String]? = nil
}

/// A named variable inside one of the model's flat buffers: trainable ones in
/// `parameters`, the others (batch norm's moving statistics) in `nonTrainable`.
public struct ModelVariable: Equatable, Sendable {
    /// The variable's Keras name, `<layer>.<variable>` (`dense_1.kernel`).
    public let name: String
    /// Its shape in Keras' layout.
    public let shape: [Int]
    /// Its first element in its buffer.
    public let offset: Int
    /// False for batch normalization's moving statistics.
    public var trainable = true
    /// Its number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// A stack of layers built from a spec (the builder). All trainable parameters
/// live in one flat buffer and their gradients in a second with the same
/// layout; each layer's variables are offsets into them. The step executor
/// (`Model+Step.swift`) and evaluation (`Model+Evaluation.swift`) run it.
public final class Model {
    /// The spec the model was built from.
    public let spec: ModelSpec
    /// Each layer's name, type, output shape and weight count, as Keras' `summary()`.
    public let summary: [LayerSummary]
    /// Every variable in layer order (Keras' `weights` order).
    public let variables: [ModelVariable]
    /// Every trainable weight, layer after layer.
    public let parameters: FloatBuffer
    /// The gradients of `parameters`, in the same layout.
    public let parameterGradients: FloatBuffer
    /// The weights no gradient moves (batch normalization's moving statistics).
    public let nonTrainable: FloatBuffer
    /// Floats per input sample.
    public let inputWidth: Int
    /// The number of classes: the last layer's width.
    public let classCount: Int
    let layers: [any Layer]
    /// Each layer's inputs as tensor numbers: 0 the model's input, j + 1 layer j's output.
    let inputTensors: [[Int]]
    /// For each layer's input, whether its gradient goes to the tensor's
    /// accumulator (another reader has written the gradient already).
    private(set) var inputGradientAccumulates = [[Bool]]()
    /// For each tensor, whether a layer with weights produced it or anything it reads:
    /// only then does it need a gradient.
    let tensorLearns: [Bool]
    /// Each variable's initialiser and fans, in `variables` order.
    private let initializers: [VariableDeclaration]
    /// For each layer, how the passes run it: see `LayerIO`.
    let lossAppliesSoftmax: [Bool]
    let activationGradientDone: [Bool]
    let inputActivation: [Activation?]
    /// Backward stops at this layer, the first with parameters: nothing before it learns.
    let firstTrainable: Int
    /// Softmax + cross-entropy handled together by the loss (stable, `p - y` gradient).
    let fusesSoftmax: Bool
    /// For each layer, the window of the 2x2 max pool after it that it computes
    /// too (see `Conv2D.fusesPool`); the pool layer itself then does nothing.
    let fusedPools: [Window2D?]
    /// For each layer, whether it also applies the relu layer after it (a batch
    /// normalization followed by `{"type": "activation", "activation": "relu"}`);
    /// the relu layer itself then does nothing.
    let fusedRelus: [Bool]

    /// The trainable variables, in layer order.
    public var trainableVariables: [ModelVariable] { variables.filter(\.trainable) }
    /// The number of trainable weights.
    public var parameterCount: Int { parameters.count }
    /// The number of non-trainable weights.
    public var nonTrainableCount: Int { nonTrainable.count }

    /// Limits that keep a hostile spec (or checkpoint) from asking for more memory
    /// than any MNIST-sized model needs: 256 MiB of parameters, and at most
    /// 65,536 values per sample in a dense layer, 1,048,576 in any layer's output.
    public static let maximumParameterCount = 1 << 26
    /// The most units a dense layer may have.
    public static let maximumWidth = 1 << 16
    /// The most values any layer may output per sample.
    public static let maximumActivations = 1 << 20

    /// Builds the model and checks every layer's shape against its input, so a
    /// bad stack fails here, before any data is read or trained on.
    public convenience init(spec: ModelSpec, classCount: Int = 10) throws(ConfigError) {
        try self.init(spec: spec, classCount: classCount, fastAlgorithms: true)
    }

    /// Without `fastAlgorithms`, every layer runs its plain algorithm (im2col
    /// convolutions): the benchmark's reference products.
    init(spec: ModelSpec, classCount: Int, fastAlgorithms: Bool) throws(ConfigError) {
        self.spec = spec
        self.classCount = classCount
        let graph = try ModelGraph(spec: spec)
        var shapes = [spec.inputShape]
        var summary = [LayerSummary]()
        var layers = [any Layer]()
        var layout = VariableLayout()
        var firstTrainable: Int?
        var learns = [false]  // per tensor: a layer with weights made it or something it reads
        for (index, layerSpec) in spec.layers.enumerated() {
            let path = "layers[\(index)]"
            layout.layerName = graph.names[index]
            let before = layout.declarations.count
            var layer = layerSpec.layer
            let inputs = graph.inputs[index]
            let counts = type(of: layer).inputCounts
            guard counts.contains(inputs.count) else {
                let expected = counts.count == 1 ? "\(counts.lowerBound)" : counts.upperBound == Int.max ? "at least \(counts.lowerBound)" : "\(counts.lowerBound) to \(counts.upperBound)"
                throw ConfigError(path: path + ".inputs", message: "\(layerSpec.typeName) takes \(expected) input\(counts == 1 ... 1 ? "" : "s"), got \(inputs.count)")
            }
            if layer.isAugmentation {
                guard !layers.contains(where: { !$0.isAugmentation }) else {
                    throw ConfigError(path: path, message: "\(layerSpec.typeName) transforms the input images, so it goes at the front of the model, before any other layer")
                }
                guard inputs == [index] else {
                    throw ConfigError(path: path + ".inputs", message: "\(layerSpec.typeName) transforms the input images, so it reads the layer before it (or the input, first)")
                }
            }
            let shape = try layer.build(inputs: inputs.map { shapes[$0] }, path: path, variables: &layout)
            if !fastAlgorithms { layer.usePlainAlgorithms() }
            guard shape.reduce(1, *) <= Model.maximumActivations else {
                throw ConfigError(path: path, message: "outputs \(formatShape(shape)) per sample, more than the \(Model.maximumActivations) values this tool supports")
            }
            let count = layout.declarations[before...].reduce(0) { $0 + $1.declaration.shape.reduce(1, *) }
            let trainable = layout.declarations[before...].contains(where: \.declaration.trainable)
            if firstTrainable == nil, trainable { firstTrainable = index }
            learns.append(trainable || inputs.contains { learns[$0] })
            summary.append(LayerSummary(name: graph.names[index], kind: layerSpec.kerasClassName, outputShape: shape, parameterCount: count,
                                        inputs: graph.isFunctional ? inputs.map { $0 == 0 ? "input" : graph.names[$0 - 1] } : nil))
            layers.append(layer)
            shapes.append(shape)
        }
        let last = spec.layers.count - 1
        guard shapes.last == [classCount] else {
            throw ConfigError(path: "layers[\(last)]", message: "the model outputs \(formatShape(shapes.last!)) per sample, but the dataset has \(classCount) classes; the last layer needs \(classCount) units")
        }
        guard let firstTrainable else { throw ConfigError(path: "layers", message: "the model has no trainable layer; add a dense layer") }
        inputTensors = graph.inputs
        tensorLearns = learns
        self.firstTrainable = firstTrainable
        // The layer that computes the output: the last, or what its views show.
        var lastComputing: Int? = last
        while let i = lastComputing, layers[i].isView { lastComputing = graph.inputs[i][0] == 0 ? nil : graph.inputs[i][0] - 1 }
        let finalActivation = lastComputing.flatMap { layers[$0].outputActivation }
        if spec.loss != .meanSquaredError, let finalActivation, finalActivation != .softmax, finalActivation != .sigmoid {
            throw ConfigError(path: "layers[\(last)]", message: "\(spec.loss.rawValue) needs probabilities, but the last layer's activation is \(finalActivation.rawValue); use softmax (or sigmoid)")
        }
        let fusesSoftmax = spec.loss != .meanSquaredError && finalActivation == .softmax
        self.fusesSoftmax = fusesSoftmax
        let lossAppliesSoftmax = layers.indices.map { fusesSoftmax && $0 == lastComputing }
        self.lossAppliesSoftmax = lossAppliesSoftmax
        self.summary = summary
        self.layers = layers
        // Fusions and deferrals pair a producer with its only reader (views between change nothing).
        func computingSource(_ tensor: Int) -> Int? {
            var tensor = tensor
            while tensor > 0, layers[tensor - 1].isView { tensor = graph.inputs[tensor - 1][0] }
            return tensor == 0 ? nil : tensor - 1
        }
        var readers = [Int](repeating: 0, count: layers.count + 1)
        for i in layers.indices where !layers[i].isView {
            for tensor in graph.inputs[i] { readers[computingSource(tensor).map { $0 + 1 } ?? 0] += 1 }
        }
        let onlyReader = { (producer: Int, reader: Int) in readers[producer + 1] == 1 && computingSource(graph.inputs[reader][0]) == producer }
        // A layer that applies the gradient of the previous computing layer's
        // element-wise activation for it, to its input gradient while in cache.
        var done = [Bool](repeating: false, count: layers.count)
        var deferred = [Activation?](repeating: nil, count: layers.count)
        for i in layers.indices where layers[i].appliesInputActivationGradient && learns[graph.inputs[i][0]] {
            guard let previous = computingSource(graph.inputs[i][0]), onlyReader(previous, i),
                  let activation = layers[previous].deferrableActivation, !lossAppliesSoftmax[previous] else { continue }
            deferred[i] = activation
            done[previous] = true
        }
        activationGradientDone = done
        inputActivation = deferred
        // The first trainable layer, a convolution reading the images, computes the 2x2 max pool that reads it.
        fusedPools = layers.indices.map { i in
            guard i == firstTrainable, i + 1 < layers.count, layers[..<i].allSatisfy({ $0.isView || $0.isAugmentation }),
                  graph.inputs[i + 1] == [i + 1], onlyReader(i, i + 1),
                  let conv = layers[i] as? Conv2D, let pool = layers[i + 1] as? MaxPooling2D, conv.fusesPool(pool) else { return nil }
            return pool.window
        }
        fusedRelus = layers.indices.map { i in
            i + 1 < layers.count && layers[i] is BatchNormalization && (layers[i + 1] as? ActivationLayer)?.activation == .relu
                && graph.inputs[i + 1] == [i + 1] && onlyReader(i, i + 1)
        }
        variables = layout.declarations.map {
            ModelVariable(name: "\($0.layer).\($0.declaration.name)", shape: $0.declaration.shape, offset: $0.offset, trainable: $0.declaration.trainable)
        }
        initializers = layout.declarations.map(\.declaration)
        inputWidth = spec.inputShape.reduce(1, *)
        parameters = FloatBuffer(count: layout.trainableCount)
        parameterGradients = FloatBuffer(count: layout.trainableCount)
        nonTrainable = FloatBuffer(count: layout.nonTrainableCount)
        // Backward runs the readers of a tensor last to first: the first writes its
        // gradient, each later one into the accumulator, added after it.
        let plan = tensorPlan(training: true)
        var written = Set<Int>()
        var accumulates = layers.indices.map { [Bool](repeating: false, count: graph.inputs[$0].count) }
        for i in layers.indices.reversed() where !passesThrough(i, training: true) && !isComputedByPrevious(i) {
            guard Set(graph.inputs[i].map { plan.storage[$0] }).count == graph.inputs[i].count else {
                throw ConfigError(path: "layers[\(i)].inputs", message: "reads the same values twice (a layer and a view of it); a layer reads each input once")
            }
            for (k, tensor) in graph.inputs[i].enumerated() where learns[tensor] && !written.insert(plan.storage[tensor]).inserted {
                accumulates[i][k] = true
            }
        }
        inputGradientAccumulates = accumulates
    }

    /// Layer i does nothing in this mode: a view, or augmentation outside training.
    func passesThrough(_ i: Int, training: Bool) -> Bool {
        layers[i].isView || (!training && layers[i].isAugmentation)
    }

    /// Floats per sample of tensor t (0: the input, i + 1: layer i's output).
    func tensorWidth(_ t: Int) -> Int { t == 0 ? inputWidth : summary[t - 1].outputShape.reduce(1, *) }

    /// Layer i is computed by the layer before it (`fusedPools`, `fusedRelus`).
    func isComputedByPrevious(_ i: Int) -> Bool { i > 0 && (fusedPools[i - 1] != nil || fusedRelus[i - 1]) }

    /// Draws the initial weights (Keras' initialisers), variable by variable in layer order.
    public func initializeParameters(generator: inout RandomGenerator) {
        for (slot, declaration) in zip(variables, initializers) {
            let values = buffer(of: slot).pointer + slot.offset
            let limit: Float
            switch declaration.initializer {
            case .zeros: values.update(repeating: 0, count: slot.count); continue
            case .ones: values.update(repeating: 1, count: slot.count); continue
            case .glorotUniform: limit = (6 / Float(declaration.fanIn + declaration.fanOut)).squareRoot()
            case .heUniform: limit = (6 / Float(declaration.fanIn)).squareRoot()
            case .lecunUniform: limit = (3 / Float(declaration.fanIn)).squareRoot()
            }
            for k in 0 ..< slot.count { values[k] = (generator.nextUnitFloat() * 2 - 1) * limit }
        }
    }

    /// Every variable, trainable then non-trainable, as one array (early
    /// stopping keeps its best weights this way).
    public var allWeights: [Float] { parameters.array + nonTrainable.array }

    /// Sets every variable from an array laid out as `allWeights`.
    public func assignAllWeights(_ values: [Float]) {
        parameters.assign(Array(values[..<parameterCount]))
        nonTrainable.assign(Array(values[parameterCount...]))
    }

    /// Where a variable's values start in `allWeights`.
    public func allWeightsOffset(of slot: ModelVariable) -> Int { (slot.trainable ? 0 : parameterCount) + slot.offset }

    /// The buffer a variable lives in.
    public func buffer(of slot: ModelVariable) -> FloatBuffer { slot.trainable ? parameters : nonTrainable }

    /// Buffers for batches of up to `capacity` samples on `threads` threads, in training or inference mode.
    public func makeWorkspace(capacity: Int, training: Bool, threads: Int = 1) -> Workspace {
        Workspace(model: self, capacity: capacity, training: training, threads: threads)
    }

    /// Fixed so that `mnist-train`'s final test figures and `mnist-eval`'s agree to the bit.
    public static let evaluationBatchSize = 500
}

/// Buffers for one batch size and thread count, allocated once: the input
/// rows, each layer's output and output gradient (a view shares its input's;
/// in inference two buffers serve every layer in turn), each layer's scratch,
/// labels. A smaller last batch uses the leading rows.
public final class Workspace {
    /// The largest batch the buffers hold.
    public let capacity: Int
    /// The threads the scratch is sized for.
    public let threads: Int
    /// Training mode: gradients, dropout masks and batch statistics have room.
    public let training: Bool
    /// [0] the input; [i + 1] layer i's output (a view's is its input's buffer).
    let activations: [FloatBuffer]
    /// The same indexing: the loss's gradient with respect to each (training only).
    let activationGradients: [FloatBuffer]
    /// For a tensor read by several layers (training only): where each reader
    /// but the first to run backward writes its input gradient, to be added.
    let gradientAccumulators: [FloatBuffer?]
    /// Each layer's inputs, and where it writes their gradients (nil: not needed, or
    /// inference), resolved once here rather than on every pass.
    let layerInputs: [[UnsafePointer<Float>]]
    let layerInputGradients: [[UnsafeMutablePointer<Float>?]]
    let scratch: [[FloatBuffer]]
    let labels: UnsafeMutablePointer<Int32>

    var input: FloatBuffer { activations[0] }

    /// Floats held for the layers' outputs and their gradients, each buffer once
    /// (in inference, the widest cut of the graph times the widest layer).
    public var activationFloats: Int {
        var seen = Set<ObjectIdentifier>()
        return (activations + activationGradients + gradientAccumulators.compactMap { $0 })
            .filter { seen.insert(ObjectIdentifier($0)).inserted }.reduce(0) { $0 + $1.count }
    }

    init(model: Model, capacity: Int, training: Bool, threads: Int) {
        self.capacity = capacity
        self.threads = threads
        self.training = training
        let plan = model.tensorPlan(training: training)
        let input = FloatBuffer(count: capacity * model.inputWidth), none = FloatBuffer(count: 0)
        var own = [FloatBuffer?](repeating: nil, count: model.layers.count + 1)
        own[0] = input
        var gradients = [FloatBuffer?](repeating: nil, count: model.layers.count + 1)
        var accumulators = [FloatBuffer?](repeating: nil, count: model.layers.count + 1)
        if training {
            for i in model.layers.indices where plan.storage[i + 1] == i + 1 {
                // A layer that computes the layer after it (`fusedPools`, `fusedRelus`) never writes its own output.
                let width = model.fusedPools[i] == nil && !model.fusedRelus[i] ? model.tensorWidth(i + 1) : 0
                own[i + 1] = FloatBuffer(count: capacity * width)
                gradients[i + 1] = FloatBuffer(count: capacity * width)
                if plan.readers[i + 1].count > 1, model.tensorLearns[i + 1] { accumulators[i + 1] = FloatBuffer(count: capacity * width) }
            }
        } else {
            // Inference needs each output only until its last reader has run: buffers
            // return to a free list then, so memory is that of the widest cut.
            let widest = model.summary.map { $0.outputShape.reduce(1, *) }.max() ?? 0
            var free = [FloatBuffer]()
            var unread = plan.readers.map(\.count)
            unread[plan.storage[model.layers.count]] += 1  // the loss reads the output
            for i in model.layers.indices where !model.passesThrough(i, training: false) && !model.isComputedByPrevious(i) {
                let produced = model.fusedPools[i] != nil || model.fusedRelus[i] ? i + 2 : i + 1
                own[produced] = free.popLast() ?? FloatBuffer(count: capacity * widest)
                for tensor in model.inputTensors[i] {
                    let stored = plan.storage[tensor]
                    unread[stored] -= 1
                    if unread[stored] == 0, stored != 0, let buffer = own[stored] { free.append(buffer) }
                }
            }
        }
        let values = plan.storage.map { own[$0] ?? none }, valueGradients = plan.storage.map { gradients[$0] ?? none }
        let accumulated = plan.storage.map { accumulators[$0] }
        (activations, activationGradients, gradientAccumulators) = (values, valueGradients, accumulated)
        layerInputs = model.inputTensors.map { $0.map { UnsafePointer(values[$0].pointer) } }
        layerInputGradients = model.inputTensors.indices.map { i in
            model.inputTensors[i].indices.map { k -> UnsafeMutablePointer<Float>? in
                let tensor = model.inputTensors[i][k]
                guard training, model.tensorLearns[tensor] else { return nil }
                return model.inputGradientAccumulates[i][k] ? accumulated[tensor]!.pointer : valueGradients[tensor].pointer
            }
        }
        scratch = model.layers.map { $0.scratchSizes(batch: capacity, threads: threads, training: training).map { FloatBuffer(count: $0) } }
        labels = .allocate(capacity: max(capacity, 1))
        labels.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { labels.deallocate() }
}
