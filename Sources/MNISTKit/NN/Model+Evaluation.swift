// Evaluation: the model in inference mode over a dataset, in fixed batches.

/// A model's loss and accuracy over a set of samples.
public struct Evaluation: Equatable, Sendable {
    /// The mean per-sample loss.
    public let loss: Double
    /// The fraction of samples whose most likely class is their label.
    public let accuracy: Double
    /// How many samples were evaluated.
    public let samples: Int

    /// An evaluation with these figures.
    public init(loss: Double, accuracy: Double, samples: Int) {
        (self.loss, self.accuracy, self.samples) = (loss, accuracy, samples)
    }
}

extension Model {
    /// Evaluates the whole dataset (or the samples at `indices`) in batches, in order.
    public func evaluate(_ dataset: Dataset, indices: [Int32]? = nil, batchSize: Int = Model.evaluationBatchSize,
                         workers: WorkerPool = .serial, predictions: UnsafeMutablePointer<Int32>? = nil) -> Evaluation {
        withDenormalsFlushedToZero {
            evaluateBatches(dataset, indices: indices, batchSize: batchSize, workers: workers, predictions: predictions)
        }
    }

    private func evaluateBatches(_ dataset: Dataset, indices: [Int32]?, batchSize: Int, workers: WorkerPool,
                                 predictions: UnsafeMutablePointer<Int32>?) -> Evaluation {
        let order = indices ?? (0 ..< Int32(dataset.count)).map { $0 }
        let workspace = makeWorkspace(capacity: min(batchSize, max(order.count, 1)), training: false, threads: workers.count)
        let context = context(workers, optimizer: nil)
        var unused = RandomGenerator(seed: 0)
        var lossSum = 0.0, correct = 0
        var start = 0
        while start < order.count {
            let B = min(workspace.capacity, order.count - start)
            order.withUnsafeBufferPointer { all in
                gather(UnsafeBufferPointer(rebasing: all[start ..< start + B]), from: dataset, into: workspace, workers: workers)
            }
            let outputs = forward(workspace, B: B, context: context, random: &unused)
            let score = score(workspace, B: B, workers: workers, withGradient: false)
            lossSum += score.lossSum
            correct += score.correct
            if let predictions {
                for r in 0 ..< B { predictions[start + r] = Int32(argmaxRow(outputs + r * classCount, classCount)) }
            }
            start += B
        }
        let count = max(order.count, 1)
        return Evaluation(loss: lossSum / Double(count), accuracy: Double(correct) / Double(count), samples: order.count)
    }
}

extension Model {
    /// The model's outputs (probabilities, one row of `classCount` per sample)
    /// for rows of inputs laid out as `inputShape`, pixels in [0, 1]. Inference
    /// mode unless `training`: then dropout draws from `random` and batch
    /// normalisation uses (and moves its averages toward) the batch's statistics.
    public func predict(_ inputs: [Float], training: Bool = false, workers: WorkerPool = .serial,
                        random: inout RandomGenerator) -> [Float] {
        let B = inputs.count / max(inputWidth, 1)
        precondition(B * inputWidth == inputs.count, "inputs are not whole rows of \(inputWidth)")
        let workspace = makeWorkspace(capacity: max(B, 1), training: training, threads: workers.count)
        workspace.input.assign(inputs)
        let outputs = withDenormalsFlushedToZero { forward(workspace, B: B, context: context(workers, optimizer: nil), random: &random) }
        if fusesSoftmax { for r in 0 ..< B { softmaxRow(out: outputs + r * classCount, inp: outputs + r * classCount, C: classCount) } }
        return Array(UnsafeBufferPointer(start: outputs, count: B * classCount))
    }

    /// The model's probabilities in inference mode for rows of inputs (pixels in [0, 1]), one row of `classCount` per sample.
    public func predict(_ inputs: [Float], workers: WorkerPool = .serial) -> [Float] {
        var unused = RandomGenerator(seed: 0)
        return predict(inputs, training: false, workers: workers, random: &unused)
    }
}
