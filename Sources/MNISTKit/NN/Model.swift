/// One row of the Keras-style summary.
public struct LayerSummary: Equatable, Sendable {
    public let name: String
    public let kind: String
    public let outputShape: [Int]
    public let parameterCount: Int
}

/// A named tensor inside the flat parameter buffer.
public struct ParameterSlot: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A layer as the step runs it: widths resolved, parameters located.
enum PlannedLayer {
    case dense(inputs: Int, outputs: Int, activation: Activation, kernel: Int, bias: Int?)
    case activation(Activation, width: Int)
    case dropout(rate: Float, width: Int)

    var outputWidth: Int {
        switch self {
        case let .dense(_, outputs, _, _, _): return outputs
        case let .activation(_, width), let .dropout(_, width): return width
        }
    }
}

/// Buffers for one batch size, allocated once: the input rows, each layer's
/// output and output gradient, dropout masks, labels. A smaller last batch uses
/// the leading rows.
public final class Workspace {
    public let capacity: Int
    let input: FloatBuffer
    let outputs: [FloatBuffer]
    let gradients: [FloatBuffer]
    let masks: [FloatBuffer?]
    let labels: UnsafeMutablePointer<Int32>

    init(model: Model, capacity: Int, training: Bool) {
        self.capacity = capacity
        input = FloatBuffer(count: capacity * model.inputWidth)
        outputs = model.plan.map { FloatBuffer(count: capacity * $0.outputWidth) }
        gradients = training ? model.plan.map { FloatBuffer(count: capacity * $0.outputWidth) } : []
        masks = model.plan.map { layer in
            if training, case let .dropout(rate, width) = layer, rate > 0 { return FloatBuffer(count: capacity * width) }
            return nil
        }
        labels = .allocate(capacity: max(capacity, 1))
        labels.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { labels.deallocate() }
}

/// A stack of layers built from a spec. All parameters live in one flat buffer
/// and their gradients in a second with the same layout; kernels and biases are
/// offsets into them.
public final class Model {
    public let spec: ModelSpec
    public let summary: [LayerSummary]
    public let parameterSlots: [ParameterSlot]
    public let parameters: FloatBuffer
    public let gradients: FloatBuffer
    public let inputWidth: Int
    public let classCount: Int
    let plan: [PlannedLayer]
    /// Softmax + cross-entropy handled together by the loss (stable, `p - y` gradient).
    let fusesSoftmax: Bool
    /// Backward stops at this layer, the first with parameters: nothing before it learns.
    let firstTrainable: Int

    public var parameterCount: Int { parameters.count }

    /// The threads the step runs on (`--threads`); one unless set. A pool of
    /// more than one thread wants OpenBLAS single-threaded (`BLAS.threadCount = 1`).
    public var workers = WorkerPool(count: 1)

    /// Limits that keep a hostile spec (or checkpoint) from asking for more memory
    /// than any MNIST-sized model needs: 256 MiB of parameters, and layers of at
    /// most 65,536 units (activation buffers grow with the batch times the width).
    public static let maximumParameterCount = 1 << 26
    public static let maximumWidth = 1 << 16

    /// Builds the model and checks every layer's shape against its input, so a
    /// bad stack fails here, before any data is read or trained on.
    public init(spec: ModelSpec, classCount: Int = 10) throws(ConfigError) {
        self.spec = spec
        self.classCount = classCount
        var shape = spec.inputShape
        var summary = [LayerSummary]()
        var slots = [ParameterSlot]()
        var plan = [PlannedLayer]()
        var counters = [String: Int]()
        var offset = 0
        for (index, layer) in spec.layers.enumerated() {
            let number = (counters[layer.typeName] ?? 0) + 1
            counters[layer.typeName] = number
            let name = "\(layer.typeName)_\(number)"
            var parameterCount = 0
            switch layer {
            case let .dense(units, activation, useBias, _, _):
                guard shape.count == 1 else {
                    throw ConfigError(path: "layers[\(index)]", message: "dense expects a flat input but receives \(formatShape(shape)); add {\"type\": \"flatten\"} before it")
                }
                let (kernelCount, overflow) = shape[0].multipliedReportingOverflow(by: units)
                guard !overflow, offset + kernelCount + units <= Model.maximumParameterCount, units <= Model.maximumWidth else {
                    throw ConfigError(path: "layers[\(index)].units", message: "\(units) units make the model larger than the \(Model.maximumParameterCount) parameters (and \(Model.maximumWidth) units per layer) this tool supports")
                }
                let kernel = ParameterSlot(name: "\(name).kernel", shape: [shape[0], units], offset: offset)
                slots.append(kernel)
                offset += kernel.count
                var biasOffset: Int?
                if useBias {
                    slots.append(ParameterSlot(name: "\(name).bias", shape: [units], offset: offset))
                    biasOffset = offset
                    offset += units
                }
                parameterCount = kernel.count + (useBias ? units : 0)
                plan.append(.dense(inputs: shape[0], outputs: units, activation: activation, kernel: kernel.offset, bias: biasOffset))
                shape = [units]
            case let .activation(activation):
                if activation == .softmax, shape.count != 1 {
                    throw ConfigError(path: "layers[\(index)]", message: "softmax expects a flat input but receives \(formatShape(shape)); add {\"type\": \"flatten\"} before it")
                }
                plan.append(.activation(activation, width: shape.reduce(1, *)))
            case .flatten:
                shape = [shape.reduce(1, *)]
            case let .dropout(rate):
                plan.append(.dropout(rate: Float(rate), width: shape.reduce(1, *)))
            }
            summary.append(LayerSummary(name: name, kind: layer.kerasClassName, outputShape: shape, parameterCount: parameterCount))
        }
        guard shape == [classCount] else {
            throw ConfigError(path: "layers[\(spec.layers.count - 1)]", message: "the model outputs \(formatShape(shape)) per sample, but the dataset has \(classCount) classes; the last layer needs \(classCount) units")
        }
        guard !slots.isEmpty else { throw ConfigError(path: "layers", message: "the model has no trainable layer; add a dense layer") }
        if spec.loss != .meanSquaredError, let last = plan.last, last.finalActivation == .relu || last.finalActivation == .linear || last.finalActivation == .tanh {
            throw ConfigError(path: "layers[\(spec.layers.count - 1)]", message: "\(spec.loss.rawValue) needs probabilities, but the last layer's activation is \(last.finalActivation!.rawValue); use softmax (or sigmoid)")
        }
        self.summary = summary
        self.parameterSlots = slots
        self.plan = plan
        self.inputWidth = spec.inputShape.reduce(1, *)
        self.fusesSoftmax = spec.loss != .meanSquaredError && plan.last?.finalActivation == .softmax
        self.firstTrainable = plan.firstIndex { if case .dense = $0 { true } else { false } } ?? 0
        parameters = FloatBuffer(count: offset)
        gradients = FloatBuffer(count: offset)
    }

    /// Draws the initial weights (Keras' initialisers), layer by layer in order.
    public func initializeParameters(generator: inout RandomGenerator) {
        var slotIndex = 0
        for layer in spec.layers {
            guard case let .dense(_, _, useBias, kernelInitializer, biasInitializer) = layer else { continue }
            let kernel = parameterSlots[slotIndex]
            fill(kernel, kernelInitializer, fanIn: kernel.shape[0], fanOut: kernel.shape[1], &generator)
            slotIndex += 1
            if useBias {
                fill(parameterSlots[slotIndex], biasInitializer, fanIn: kernel.shape[0], fanOut: kernel.shape[1], &generator)
                slotIndex += 1
            }
        }
    }

    private func fill(_ slot: ParameterSlot, _ initializer: Initializer, fanIn: Int, fanOut: Int, _ generator: inout RandomGenerator) {
        let values = parameters.pointer + slot.offset
        let limit: Float
        switch initializer {
        case .zeros: values.update(repeating: 0, count: slot.count); return
        case .ones: values.update(repeating: 1, count: slot.count); return
        case .glorotUniform: limit = (6 / Float(fanIn + fanOut)).squareRoot()
        case .heUniform: limit = (6 / Float(fanIn)).squareRoot()
        case .lecunUniform: limit = (3 / Float(fanIn)).squareRoot()
        }
        for k in 0 ..< slot.count { values[k] = (generator.nextUnitFloat() * 2 - 1) * limit }
    }

    public func makeWorkspace(capacity: Int, training: Bool) -> Workspace {
        Workspace(model: self, capacity: capacity, training: training)
    }

    /// Runs the layers over the first `B` rows of `workspace.input`. Returns the
    /// output buffer; with a fused softmax it holds logits until the loss runs.
    /// Each layer is one phase on the worker pool: wide dense layers split their
    /// output columns between threads, everything else splits the rows.
    @discardableResult
    func forward(_ workspace: Workspace, B: Int, training: Bool, dropout generator: inout RandomGenerator) -> UnsafeMutablePointer<Float> {
        var x = UnsafePointer(workspace.input.pointer)
        let w = UnsafePointer(parameters.pointer)
        let T = workers.count
        for (i, layer) in plan.enumerated() {
            let out = workspace.outputs[i].pointer, inp = x
            let fusedHere = fusesSoftmax && i == plan.count - 1
            switch layer {
            case let .dense(inputs, outputs, activation, kernel, bias):
                let activation = fusedHere ? .linear : activation
                if splitsColumns(layer: i, threads: T) {
                    workers.run { t in
                        denseForward(out: out, inp: inp, weight: w + kernel, bias: bias.map { w + $0 }, B: B, I: inputs, O: outputs,
                                     columns: partition(outputs, parts: T, part: t), activation: activation)
                    }
                } else {
                    workers.run(rows: B) { _, rows in
                        denseForward(out: out + rows.lowerBound * outputs, inp: inp + rows.lowerBound * inputs, weight: w + kernel,
                                     bias: bias.map { w + $0 }, B: rows.count, I: inputs, O: outputs, columns: 0 ..< outputs, activation: activation)
                    }
                }
            case let .activation(activation, width):
                workers.run(rows: B) { _, rows in
                    activationForward(out: out + rows.lowerBound * width, inp: inp + rows.lowerBound * width, B: rows.count, C: width,
                                      activation: fusedHere ? .linear : activation)
                }
            case let .dropout(rate, width):
                // One thread: the masks come from one generator in order, whatever the thread count.
                if training, let mask = workspace.masks[i] {
                    dropoutForward(out: out, mask: mask.pointer, inp: inp, count: B * width, rate: rate, generator: &generator)
                } else {
                    out.update(from: inp, count: B * width)
                }
            }
            x = UnsafePointer(out)
        }
        return workspace.outputs[plan.count - 1].pointer
    }

    /// Dense layer `i` splits its output columns between threads when each gets
    /// at least 64 and what it applies works element by element (a softmax the
    /// loss fuses is the loss's); otherwise the threads split the batch rows.
    func splitsColumns(layer i: Int, threads: Int) -> Bool {
        guard case let .dense(_, outputs, activation, _, _) = plan[i] else { return false }
        let elementWise = activation != .softmax || (fusesSoftmax && i == plan.count - 1)
        return elementWise && outputs >= 64 * threads
    }

    /// The loss over the forward's output; with `withGradient`, also its gradient
    /// into the last layer's output gradient. Turns fused logits into probabilities.
    /// Threads score row ranges; their sums are added in thread order.
    func score(_ workspace: Workspace, B: Int, withGradient: Bool) -> BatchScore {
        let C = classCount, T = workers.count
        let outputs = workspace.outputs[plan.count - 1].pointer
        let dout = withGradient ? workspace.gradients[plan.count - 1].pointer : nil
        let labels = workspace.labels
        return withUnsafeTemporaryAllocation(of: BatchScore.self, capacity: T) { scores in
            workers.run(rows: B) { t, rows in
                let r0 = rows.lowerBound
                let o = outputs + r0 * C, d = dout.map { $0 + r0 * C }, y = labels + r0
                let score: BatchScore
                if fusesSoftmax {
                    score = softmaxCrossEntropy(outputs: o, dout: d, labels: y, B: rows.count, C: C, N: B)
                } else {
                    switch spec.loss {
                    case .categoricalCrossentropy, .sparseCategoricalCrossentropy:
                        score = crossEntropy(outputs: o, dout: d, labels: y, B: rows.count, C: C, N: B)
                    case .meanSquaredError:
                        score = meanSquaredError(outputs: o, dout: d, labels: y, B: rows.count, C: C, N: B)
                    }
                }
                (scores.baseAddress! + t).initialize(to: score)
            }
            return scores.reduce(BatchScore(lossSum: 0, correct: 0)) {
                BatchScore(lossSum: $0.lossSum + $1.lossSum, correct: $0.correct + $1.correct)
            }
        }
    }

    /// Back-propagates from the last layer's output gradient into `gradients`.
    /// Stops at the first layer with parameters: the images need no gradient.
    /// With an optimizer, each thread updates the parameters whose gradients it
    /// has just computed, while they are still in its cache: nothing later in the
    /// pass reads them (a dense layer's weight row i only feeds dinp column i).
    func backward(_ workspace: Workspace, B: Int, update optimizer: Optimizer?) {
        let w = parameters.pointer
        let dw = gradients.pointer
        let T = workers.count
        // Set when a dense layer has already passed its input gradient back
        // through the previous dense layer's element-wise activation.
        var activationDone = false
        for i in stride(from: plan.count - 1, through: firstTrainable, by: -1) {
            let dout = workspace.gradients[i].pointer
            let out = UnsafePointer(workspace.outputs[i].pointer)
            let inp = i > 0 ? UnsafePointer(workspace.outputs[i - 1].pointer) : UnsafePointer(workspace.input.pointer)
            let dinp = i > firstTrainable ? workspace.gradients[i - 1].pointer : nil
            let fusedHere = fusesSoftmax && i == plan.count - 1
            switch plan[i] {
            case let .dense(inputs, outputs, activation, kernel, bias):
                if !fusedHere, activation != .linear, !activationDone {
                    workers.run(rows: B) { _, rows in
                        let at = rows.lowerBound * outputs
                        activationBackward(dinp: dout + at, dout: dout + at, out: out + at, B: rows.count, C: outputs, activation: activation)
                    }
                }
                // The previous layer's element-wise activation, applied to each
                // thread's columns of dinp as soon as it has them.
                var previous: Activation?
                if dinp != nil, case let .dense(_, _, activation, _, _) = plan[i - 1], activation != .softmax, activation != .linear {
                    previous = activation
                }
                activationDone = previous != nil
                workers.run { t in
                    let mine = partition(inputs, parts: T, part: t), myOutputs = partition(outputs, parts: T, part: t)
                    denseBackward(dinp: dinp, dweight: dw + kernel, dbias: bias.map { dw + $0 }, dout: dout, inp: inp, weight: w + kernel,
                                  B: B, I: inputs, O: outputs, inputs: mine, outputs: myOutputs)
                    if let previous, let dinp, !mine.isEmpty {
                        for r in 0 ..< B {
                            let at = r * inputs + mine.lowerBound
                            activationBackward(dinp: dinp + at, dout: dinp + at, out: inp + at, B: 1, C: mine.count, activation: previous)
                        }
                    }
                    guard let optimizer else { return }
                    optimizer.apply(w, dw, kernel + mine.lowerBound * outputs ..< kernel + mine.upperBound * outputs)
                    if let bias { optimizer.apply(w, dw, bias + myOutputs.lowerBound ..< bias + myOutputs.upperBound) }
                }
            case let .activation(activation, width):
                guard let dinp else { continue }
                workers.run(rows: B) { _, rows in
                    let at = rows.lowerBound * width
                    activationBackward(dinp: dinp + at, dout: dout + at, out: out + at, B: rows.count, C: width,
                                       activation: fusedHere ? .linear : activation)
                }
            case let .dropout(_, width):
                guard let dinp else { continue }
                let mask = workspace.masks[i]?.pointer
                workers.run { t in
                    let range = partition(B * width, parts: T, part: t)
                    if let mask {
                        dropoutBackward(dinp: dinp + range.lowerBound, dout: dout + range.lowerBound, mask: mask + range.lowerBound, count: range.count)
                    } else {
                        (dinp + range.lowerBound).update(from: dout + range.lowerBound, count: range.count)
                    }
                }
            }
        }
    }

    /// Loss (mean over the batch) and gradients for the first `B` rows, without
    /// updating anything. The input and labels must already be in `workspace`.
    public func lossAndGradients(_ workspace: Workspace, B: Int, dropout generator: inout RandomGenerator) -> BatchScore {
        forward(workspace, B: B, training: true, dropout: &generator)
        let score = score(workspace, B: B, withGradient: true)
        backward(workspace, B: B, update: nil)
        return score
    }

    /// One training step on the first `B` rows: forward, loss, backward, and the
    /// optimizer's update. A non-finite loss stops before anything is updated.
    public func trainStep(_ workspace: Workspace, B: Int, optimizer: Optimizer, dropout generator: inout RandomGenerator) -> BatchScore {
        forward(workspace, B: B, training: true, dropout: &generator)
        let score = score(workspace, B: B, withGradient: true)
        guard score.lossSum.isFinite else { return score }
        optimizer.beginStep()
        backward(workspace, B: B, update: optimizer)
        return score
    }

    /// Copies the samples at `indices` into the first rows of the workspace, a
    /// range of rows per thread.
    public func gather(_ indices: UnsafeBufferPointer<Int32>, from dataset: Dataset, into workspace: Workspace) {
        let size = inputWidth
        workers.run(rows: indices.count) { _, rows in
            dataset.gather(UnsafeBufferPointer(rebasing: indices[rows]), into: workspace.input.pointer + rows.lowerBound * size,
                           labels: workspace.labels + rows.lowerBound)
        }
    }

    /// Copies `B` rows of input and labels into the workspace (tests and tools).
    public func load(_ workspace: Workspace, inputs: [Float], labels: [Int32]) {
        precondition(labels.count <= workspace.capacity && inputs.count == labels.count * inputWidth, "batch does not fit the workspace")
        workspace.input.assign(inputs)
        for (r, label) in labels.enumerated() { workspace.labels[r] = label }
    }

    /// Evaluates the whole dataset (or the samples at `indices`) in batches, in order.
    public func evaluate(_ dataset: Dataset, indices: [Int32]? = nil, batchSize: Int = Model.evaluationBatchSize,
                         predictions: UnsafeMutablePointer<Int32>? = nil) -> Evaluation {
        withDenormalsFlushedToZero { evaluateBatches(dataset, indices: indices, batchSize: batchSize, predictions: predictions) }
    }

    private func evaluateBatches(_ dataset: Dataset, indices: [Int32]?, batchSize: Int, predictions: UnsafeMutablePointer<Int32>?) -> Evaluation {
        let order = indices ?? (0 ..< Int32(dataset.count)).map { $0 }
        let workspace = makeWorkspace(capacity: min(batchSize, max(order.count, 1)), training: false)
        var unused = RandomGenerator(seed: 0)
        var lossSum = 0.0, correct = 0
        var start = 0
        while start < order.count {
            let B = min(workspace.capacity, order.count - start)
            order.withUnsafeBufferPointer { all in gather(UnsafeBufferPointer(rebasing: all[start ..< start + B]), from: dataset, into: workspace) }
            forward(workspace, B: B, training: false, dropout: &unused)
            let score = score(workspace, B: B, withGradient: false)
            lossSum += score.lossSum
            correct += score.correct
            if let predictions {
                let outputs = workspace.outputs[plan.count - 1].pointer
                for r in 0 ..< B { predictions[start + r] = Int32(argmaxRow(outputs + r * classCount, classCount)) }
            }
            start += B
        }
        let count = max(order.count, 1)
        return Evaluation(loss: lossSum / Double(count), accuracy: Double(correct) / Double(count), samples: order.count)
    }

    /// The sgemm calls one training step on `B` rows makes, split between `T`
    /// threads as the step splits them: for each phase, each thread's calls (for
    /// the benchmark's replay). With one thread, the whole products.
    public func sgemmCalls(batch B: Int, threads T: Int) -> [[[GEMMCall]]] {
        var phases = [[[GEMMCall]]]()
        for (i, layer) in plan.enumerated() {
            guard case let .dense(inputs, outputs, _, _, _) = layer else { continue }
            let byColumns = splitsColumns(layer: i, threads: T)
            phases.append((0 ..< T).map { t in
                if byColumns {
                    let columns = partition(outputs, parts: T, part: t)
                    return columns.isEmpty ? [] : [GEMMCall(transposeA: false, transposeB: false, m: B, n: columns.count, k: inputs, lda: inputs, ldb: outputs, ldc: outputs)]
                }
                let rows = partition(B, parts: T, part: t, alignment: 1)
                return rows.isEmpty ? [] : [GEMMCall(transposeA: false, transposeB: false, m: rows.count, n: outputs, k: inputs, lda: inputs, ldb: outputs, ldc: outputs)]
            })
        }
        for i in stride(from: plan.count - 1, through: firstTrainable, by: -1) {
            guard case let .dense(inputs, outputs, _, _, _) = plan[i] else { continue }
            phases.append((0 ..< T).map { t in
                let mine = partition(inputs, parts: T, part: t)
                guard !mine.isEmpty else { return [] }
                var calls = [GEMMCall(transposeA: true, transposeB: false, m: mine.count, n: outputs, k: B, lda: inputs, ldb: outputs, ldc: outputs)]
                if i > firstTrainable {
                    calls.append(GEMMCall(transposeA: false, transposeB: true, m: B, n: mine.count, k: outputs, lda: outputs, ldb: outputs, ldc: inputs))
                }
                return calls
            })
        }
        return phases
    }

    /// Fixed so that `mnist-train`'s final test figures and `mnist-eval`'s agree to the bit.
    public static let evaluationBatchSize = 500
}

public struct Evaluation: Equatable, Sendable {
    public let loss: Double
    public let accuracy: Double
    public let samples: Int
}

extension PlannedLayer {
    /// The activation the layer's output has passed through last, if it has one.
    var finalActivation: Activation? {
        switch self {
        case let .dense(_, _, activation, _, _), let .activation(activation, _): return activation
        case .dropout: return nil
        }
    }
}

extension LayerSpec {
    /// The name Keras' summary gives this kind of layer.
    public var kerasClassName: String {
        switch self {
        case .dense: return "Dense"
        case .activation: return "Activation"
        case .flatten: return "Flatten"
        case .dropout: return "Dropout"
        }
    }
}
