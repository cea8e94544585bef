// The step executor: runs the layers forward, scores the loss, and runs them
// backward with each slice of parameters updated while it is in cache.

extension Model {
    /// Layer i's buffers in `workspace` for a pass over `B` rows.
    func io(_ i: Int, _ workspace: Workspace, B: Int) -> LayerIO {
        let training = workspace.training
        var io = LayerIO(
            B: B, inputs: workspace.layerInputs[i], out: workspace.activations[i + 1].pointer,
            inputGradients: workspace.layerInputGradients[i],
            dout: training ? workspace.activationGradients[i + 1].pointer : nil,
            scratch: workspace.scratch[i], training: training, lossAppliesSoftmax: lossAppliesSoftmax[i],
            activationGradientDone: activationGradientDone[i], inputActivation: inputActivation[i])
        if let window = fusedPools[i] {
            io.pool = FusedPool(out: workspace.activations[i + 2].pointer, dout: training ? UnsafePointer(workspace.activationGradients[i + 2].pointer) : nil,
                                argmax: training ? workspace.scratch[i + 1][0].pointer : nil, window: window)
        }
        if fusedRelus[i] {
            io.relu = (workspace.activations[i + 2].pointer, training ? UnsafePointer(workspace.activationGradients[i + 2].pointer) : nil)
        }
        return io
    }

    func context(_ workers: WorkerPool, optimizer: Optimizer?, probe: StepProbe? = nil) -> StepContext {
        StepContext(workers: workers, parameters: parameters.pointer, parameterGradients: parameterGradients.pointer,
                    nonTrainable: nonTrainable.pointer, optimizer: optimizer, probe: probe)
    }

    /// Runs the layers over the first `B` rows of the workspace's input, in
    /// training or inference mode as the workspace was made. Returns the output;
    /// with a fused softmax it holds logits until the loss runs.
    /// Augmentation layers draw from `augmentation` when given (in training
    /// only; in inference they pass their input through untouched), the
    /// others, and without it all, from `random`.
    @discardableResult
    func forward(_ workspace: Workspace, B: Int, context: StepContext, random: inout RandomGenerator,
                 augmentation: UnsafeMutablePointer<RandomGenerator>? = nil) -> UnsafeMutablePointer<Float> {
        precondition(workspace.threads == context.threads, "the workspace was made for \(workspace.threads) threads")
        for (i, layer) in layers.enumerated() where !passesThrough(i, training: workspace.training) && !isComputedByPrevious(i) {
            let io = io(i, workspace, B: B)
            guard let probe = context.probe else {
                if layer.isAugmentation, let augmentation {
                    layer.forward(io, context, random: &augmentation.pointee)
                } else {
                    layer.forward(io, context, random: &random)
                }
                continue
            }
            probe.clock(\.forwardSeconds, layer: i) { layer.forward(io, context, random: &random) }
        }
        return workspace.activations[layers.count].pointer
    }

    /// The loss over the forward's output; with `withGradient`, also its gradient
    /// into the last layer's output gradient. Turns fused logits into probabilities.
    /// Threads score row ranges; their sums are added in thread order.
    func score(_ workspace: Workspace, B: Int, workers: WorkerPool, withGradient: Bool) -> BatchScore {
        let C = classCount, T = workers.count
        let outputs = workspace.activations[layers.count].pointer
        let dout = withGradient ? workspace.activationGradients[layers.count].pointer : nil
        let labels = workspace.labels
        let smoothing = Float(spec.labelSmoothing)
        return withUnsafeTemporaryAllocation(of: BatchScore.self, capacity: T) { scores in
            workers.run(rows: B) { t, rows in
                let r0 = rows.lowerBound
                let o = outputs + r0 * C, d = dout.map { $0 + r0 * C }, y = labels + r0
                let score: BatchScore
                if fusesSoftmax {
                    score = softmaxCrossEntropy(outputs: o, dout: d, labels: y, B: rows.count, C: C, N: B, labelSmoothing: smoothing)
                } else {
                    switch spec.loss {
                    case .categoricalCrossentropy, .sparseCategoricalCrossentropy:
                        score = crossEntropy(outputs: o, dout: d, labels: y, B: rows.count, C: C, N: B, labelSmoothing: smoothing)
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

    /// Back-propagates from the last layer's output gradient into `parameterGradients`,
    /// stopping at the first layer with parameters (the images need no
    /// gradient). With the context's optimizer, each layer updates its
    /// parameters as their gradients become final.
    func backward(_ workspace: Workspace, B: Int, context: StepContext) {
        for i in stride(from: layers.count - 1, through: firstTrainable, by: -1) where !passesThrough(i, training: true) && !isComputedByPrevious(i) {
            guard tensorLearns[i + 1] else { continue }  // nothing at or before it learns
            let io = io(i, workspace, B: B), layer = layers[i]
            if let probe = context.probe {
                probe.clock(\.backwardSeconds, layer: i) { layer.backward(io, context) }
            } else {
                layer.backward(io, context)
            }
            for (k, tensor) in inputTensors[i].enumerated() where inputGradientAccumulates[i][k] {
                addAccumulatedGradient(of: tensor, workspace, B: B, context: context)
            }
        }
    }

    /// Adds what a second (third, ...) reader of a tensor wrote to its accumulator into its gradient.
    private func addAccumulatedGradient(of tensor: Int, _ workspace: Workspace, B: Int, context: StepContext) {
        let width = tensorWidth(tensor)
        let gradient = workspace.activationGradients[tensor].pointer, addend = UnsafePointer(workspace.gradientAccumulators[tensor]!.pointer)
        context.run(rows: B) { _, rows in
            let start = rows.lowerBound * width
            for k in start ..< start + rows.count * width { gradient[k] += addend[k] }
        }
    }

    /// Loss (mean over the batch) and gradients for the first `B` rows, without
    /// updating anything. The input and labels must already be in `workspace`.
    public func lossAndGradients(_ workspace: Workspace, B: Int, workers: WorkerPool = .serial, dropout generator: inout RandomGenerator) -> BatchScore {
        let context = context(workers, optimizer: nil)
        forward(workspace, B: B, context: context, random: &generator)
        let score = score(workspace, B: B, workers: workers, withGradient: true)
        backward(workspace, B: B, context: context)
        return score
    }

    /// One training step on the first `B` rows: forward, loss, backward, and the
    /// optimizer's update. A non-finite loss stops before anything is updated.
    /// Dropout and the augmentation layers draw from the caller's `generator`.
    public func trainStep(_ workspace: Workspace, B: Int, optimizer: Optimizer, workers: WorkerPool = .serial,
                          dropout generator: inout RandomGenerator) -> BatchScore {
        forward(workspace, B: B, context: context(workers, optimizer: nil), random: &generator)
        return scoreAndUpdate(workspace, B: B, optimizer: optimizer, workers: workers)
    }

    /// `trainStep` with the augmentation layers' own generator (`Trainer.fit`
    /// keeps the two streams apart, each in the checkpoint).
    public func trainStep(_ workspace: Workspace, B: Int, optimizer: Optimizer, workers: WorkerPool = .serial,
                          dropout generator: inout RandomGenerator, augmentation: inout RandomGenerator) -> BatchScore {
        _ = withUnsafeMutablePointer(to: &augmentation) { augmentation in
            forward(workspace, B: B, context: context(workers, optimizer: nil), random: &generator, augmentation: augmentation)
        }
        return scoreAndUpdate(workspace, B: B, optimizer: optimizer, workers: workers)
    }

    /// The loss of the forward's output, then backward with the optimizer's updates.
    private func scoreAndUpdate(_ workspace: Workspace, B: Int, optimizer: Optimizer, workers: WorkerPool) -> BatchScore {
        let score = score(workspace, B: B, workers: workers, withGradient: true)
        guard score.lossSum.isFinite else { return score }
        optimizer.beginStep()
        guard optimizer.clipsByNorm else {
            backward(workspace, B: B, context: context(workers, optimizer: optimizer))
            return score
        }
        // Norms need whole gradients: back-propagate, clip, then update everything.
        backward(workspace, B: B, context: context(workers, optimizer: nil))
        let g = parameterGradients.pointer, w = parameters.pointer
        optimizer.clipByNorm(g, variables: trainableVariables.map { $0.offset ..< $0.offset + $0.count })
        workers.run(rows: parameterCount) { _, range in optimizer.apply(w, g, range) }
        return score
    }

    /// Copies the samples at `indices` into the first rows of the workspace, a
    /// range of rows per thread.
    public func gather(_ indices: UnsafeBufferPointer<Int32>, from dataset: Dataset, into workspace: Workspace, workers: WorkerPool = .serial) {
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

    /// The sgemm calls one training step on `B` rows makes on `workers`: for
    /// each phase, each thread's calls (for the benchmark's replay). They are
    /// recorded from the step's own code on a scratch workspace, so the replay
    /// cannot drift from what the step does; nothing the model holds changes.
    /// With `plainAlgorithms`, the calls the step would make with every layer
    /// on its plain algorithm (im2col convolutions instead of Winograd).
    public func sgemmCalls(batch B: Int, workers: WorkerPool, plainAlgorithms: Bool = false) -> [[[GEMMCall]]] {
        if plainAlgorithms, let plain = try? Model(spec: spec, classCount: classCount, fastAlgorithms: false) {
            return plain.sgemmCalls(batch: B, workers: workers)
        }
        let probe = StepProbe(layers: layers.count, recordsProducts: true)
        let workspace = makeWorkspace(capacity: B, training: true, threads: workers.count)
        let savedStatistics = nonTrainable.array
        var unused = RandomGenerator(seed: 0)
        let context = context(workers, optimizer: nil, probe: probe)
        forward(workspace, B: B, context: context, random: &unused)
        backward(workspace, B: B, context: context)
        nonTrainable.assign(savedStatistics)
        return probe.calls
    }
}

extension WorkerPool {
    /// One thread: the caller's.
    public static let serial = WorkerPool(count: 1)
}

/// Where one training step's time goes, layer by layer (for the benchmark).
public struct LayerTimes: Sendable {
    /// The layer's name (`conv2d_1`).
    public let layer: String
    /// Seconds in its forward pass.
    public let forwardSeconds: Double
    /// Seconds in its backward pass.
    public let backwardSeconds: Double

    /// The times of one layer.
    public init(layer: String, forwardSeconds: Double, backwardSeconds: Double) {
        (self.layer, self.forwardSeconds, self.backwardSeconds) = (layer, forwardSeconds, backwardSeconds)
    }
}

extension Model {
    /// Runs one training step on the first `B` rows of `workspace` (made for
    /// training on `workers`), timing each layer's forward and backward pass;
    /// the update is applied as in `trainStep`.
    public func timeLayers(_ workspace: Workspace, B: Int, optimizer: Optimizer, workers: WorkerPool,
                           dropout generator: inout RandomGenerator) -> [LayerTimes] {
        let probe = StepProbe(layers: layers.count, recordsProducts: false)
        forward(workspace, B: B, context: context(workers, optimizer: nil, probe: probe), random: &generator)
        _ = score(workspace, B: B, workers: workers, withGradient: true)
        optimizer.beginStep()
        backward(workspace, B: B, context: context(workers, optimizer: optimizer, probe: probe))
        return layers.indices.map { LayerTimes(layer: summary[$0].name, forwardSeconds: probe.forwardSeconds[$0], backwardSeconds: probe.backwardSeconds[$0]) }
    }
}
