// Evaluation: the model in inference mode over a dataset, in fixed batches.

public struct Evaluation: Equatable, Sendable {
    public let loss: Double
    public let accuracy: Double
    public let samples: Int
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
