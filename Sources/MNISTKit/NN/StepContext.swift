import Dispatch

// What a layer's forward and backward passes receive: its buffers (`LayerIO`)
// and what the pass shares (`StepContext`), with the benchmark's optional probe.

/// One layer's buffers for one pass over the first `B` rows.
/// A 2x2 max pool that the layer before it runs (`Model.fusedPools`): the
/// pool's output, its output gradient and its argmax scratch (training only),
/// and its window. The layer's own output is then never written.
struct FusedPool {
    let out: UnsafeMutablePointer<Float>
    let dout: UnsafePointer<Float>?
    let argmax: UnsafeMutablePointer<Float>?
    let window: Window2D
}

struct LayerIO {
    let B: Int
    /// Every input, in the spec's order (one, except for merging layers).
    let inputs: [UnsafePointer<Float>]
    let out: UnsafeMutablePointer<Float>
    /// Gradients with respect to each input; nil where nothing before that input learns.
    let inputGradients: [UnsafeMutablePointer<Float>?]
    /// Gradient with respect to the output (training only).
    let dout: UnsafeMutablePointer<Float>?
    let scratch: [FloatBuffer]
    let training: Bool
    /// The loss applies this layer's softmax (fused with cross-entropy): compute logits.
    let lossAppliesSoftmax: Bool
    /// The next layer has already applied this layer's activation gradient to `dout`.
    let activationGradientDone: Bool
    /// The previous layer's deferred activation, whose gradient this layer applies to `dinp`.
    let inputActivation: Activation?
    /// The 2x2 max pool after this layer, when this layer computes it too (see `Model.fusedPools`).
    var pool: FusedPool? = nil
    /// The relu layer after this layer, when this layer computes it too (see `Model.fusedRelus`):
    /// its output and output gradient (training only). This layer's own output is then never written.
    var relu: (out: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>?)? = nil

    /// The (first) input.
    var inp: UnsafePointer<Float> { inputs[0] }
    /// Gradient with respect to the (first) input; nil when nothing before it learns.
    var dinp: UnsafeMutablePointer<Float>? { inputGradients[0] }

    /// The activation to apply in the forward pass (linear when the loss fuses softmax).
    func forwardActivation(_ activation: Activation) -> Activation {
        lossAppliesSoftmax ? .linear : activation
    }

    /// Whether backward must first turn `dout` into the pre-activation gradient.
    func needsOwnActivationGradient(_ activation: Activation) -> Bool {
        !lossAppliesSoftmax && activation != .linear && !activationGradientDone
    }

    /// Turns `dinp` into the gradient before the previous layer's deferred
    /// activation, while it is in cache: `rows` rows of `width` values, rows
    /// `stride` apart (default `width`), from column `column`.
    func applyInputActivationGradient(rows: Range<Int>, width: Int, stride: Int? = nil, column: Int = 0) {
        guard let previous = inputActivation, let dinp, !rows.isEmpty else { return }
        let stride = stride ?? width
        if stride == width {
            let at = rows.lowerBound * width + column
            activationBackward(dinp: dinp + at, dout: dinp + at, out: inp + at, B: rows.count, C: width, activation: previous)
            return
        }
        for r in rows {
            let at = r * stride + column
            activationBackward(dinp: dinp + at, dout: dinp + at, out: inp + at, B: 1, C: width, activation: previous)
        }
    }
}

/// What one pass shares: the threads, the flat buffers, the optimizer that
/// updates each slice once its gradient is final, and (for the benchmark) a
/// probe that clocks the layers or collects the sgemm calls.
struct StepContext {
    let workers: WorkerPool
    let parameters: UnsafeMutablePointer<Float>
    /// The gradients of `parameters`, in the same layout.
    let parameterGradients: UnsafeMutablePointer<Float>
    let nonTrainable: UnsafeMutablePointer<Float>
    let optimizer: Optimizer?
    let probe: StepProbe?

    var threads: Int { workers.count }

    /// One phase: `body(t)` on every thread, then a barrier.
    func run(_ body: (Int) -> Void) {
        probe?.beginPhase(threads: workers.count)
        workers.run(body)
    }

    /// One phase over `n` rows, each thread taking a contiguous range.
    func run(rows n: Int, _ body: (_ t: Int, _ rows: Range<Int>) -> Void) {
        probe?.beginPhase(threads: workers.count)
        workers.run(rows: n, body)
    }

    /// The step's matrix products, made by thread `t` (or recorded).
    @inline(__always)
    func sgemm(_ t: Int, transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
               c: UnsafeMutablePointer<Float>, ldc: Int) {
        if let probe, probe.recordsProducts {
            probe.record(GEMMCall(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc), thread: t)
            return
        }
        MNISTKit.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
    }

    /// Applies the optimizer to parameters `range`, whose gradients are final.
    @inline(__always)
    func update(_ range: Range<Int>) {
        guard let optimizer, !range.isEmpty else { return }
        optimizer.apply(parameters, parameterGradients, range)
    }
}

/// The benchmark's view into one step. Recording, it collects the sgemm calls
/// phase by phase and thread by thread instead of making them (for the
/// replay); otherwise it clocks each layer's forward and backward pass.
final class StepProbe: @unchecked Sendable {
    final class Calls: @unchecked Sendable { var list = [GEMMCall]() }
    let recordsProducts: Bool
    private(set) var phases = [[Calls]]()
    /// Seconds in each layer's forward and backward pass (when clocking).
    var forwardSeconds: [Double], backwardSeconds: [Double]

    init(layers: Int, recordsProducts: Bool) {
        self.recordsProducts = recordsProducts
        forwardSeconds = Array(repeating: 0, count: layers)
        backwardSeconds = forwardSeconds
    }

    func beginPhase(threads: Int) {
        if recordsProducts { phases.append((0 ..< threads).map { _ in Calls() }) }
    }

    /// Each thread appends only to its own list.
    func record(_ call: GEMMCall, thread t: Int) { phases[phases.count - 1][t].list.append(call) }

    /// Phases that made any call: for each, each thread's calls.
    var calls: [[[GEMMCall]]] {
        phases.map { $0.map(\.list) }.filter { $0.contains { !$0.isEmpty } }
    }

    /// Runs one layer's pass, clocking it into `seconds[layer]` unless recording.
    @inline(__always)
    func clock(_ seconds: ReferenceWritableKeyPath<StepProbe, [Double]>, layer: Int, _ body: () -> Void) {
        guard !recordsProducts else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        self[keyPath: seconds][layer] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
