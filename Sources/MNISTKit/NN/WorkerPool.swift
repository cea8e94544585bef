import Foundation
import Synchronization

/// The threads a training step runs on: the calling thread plus `count - 1`
/// helpers that live as long as the pool. `run` hands every thread its part of
/// one phase and returns when all are done, so each call is a barrier.
///
/// The step splits its matrix products across these threads itself and calls
/// OpenBLAS single-threaded: OpenBLAS' own idle workers spin between calls and
/// took the second core away from the optimizer update, gather and activations
/// (measured: the update ran 1.7x slower beside them). Partitions depend only on
/// the shapes and `count`, so a fixed thread count gives the same bits.
public final class WorkerPool: @unchecked Sendable {
    /// Threads in the pool, the caller's included.
    public let count: Int
    private let shared: Shared

    /// A pool of `count` threads: the caller and `count - 1` helpers.
    public init(count: Int) {
        precondition(count >= 1, "a pool needs at least one thread")
        self.count = count
        shared = Shared(helperCount: count - 1, oversubscribed: count > ProcessInfo.processInfo.activeProcessorCount)
        for (offset, helper) in shared.helpers.enumerated() {
            let shared = shared
            let thread = Thread { shared.serve(offset + 1, helper) }
            thread.stackSize = 8 << 20 // glibc's default for the main thread; OpenBLAS runs on it too
            thread.start()
        }
    }

    deinit {
        // Generation -1 tells helpers to exit.
        shared.generation.store(-1, ordering: .sequentiallyConsistent)
        for helper in shared.helpers { helper.semaphore.signal() }
        for helper in shared.helpers { helper.exited.wait() }
    }

    /// Runs `body(t)` for t in 0 ..< count, t = 0 on the calling thread, and waits for all.
    public func run(_ body: (Int) -> Void) {
        guard count > 1 else { return body(0) }
        withoutActuallyEscaping(body) { body in shared.run(body) }
    }

    /// Runs `body(t, rows)` with each thread's contiguous share of `n` rows.
    public func run(rows n: Int, _ body: (_ t: Int, _ rows: Range<Int>) -> Void) {
        run { t in body(t, partition(n, parts: count, part: t, alignment: 1)) }
    }

    /// What the helper threads share with the pool; they hold it, not the pool,
    /// so the pool's deinit can stop them.
    private final class Shared: @unchecked Sendable {
        let helpers: [Helper]
        /// The phase in progress; helpers read it after seeing `generation` change.
        var body: ((Int) -> Void)?
        let generation = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        /// More threads than cores: polling would take the cores the others
        /// need, so nobody polls (helpers block at once, the caller yields).
        let oversubscribed: Bool
        /// A helper that finds no work for this long (busy-polling) blocks on a
        /// semaphore instead, so an idle pool costs no CPU.
        var spinNanoseconds: UInt64 { oversubscribed ? 0 : 200_000 }

        init(helperCount: Int, oversubscribed: Bool) {
            helpers = (0 ..< helperCount).map { _ in Helper() }
            self.oversubscribed = oversubscribed
        }

        func run(_ body: @escaping (Int) -> Void) {
            self.body = body
            finished.store(0, ordering: .relaxed)
            generation.store(generation.load(ordering: .relaxed) + 1, ordering: .sequentiallyConsistent)
            for helper in helpers where helper.parked.load(ordering: .sequentiallyConsistent) {
                helper.semaphore.signal()
            }
            withDenormalsFlushedToZero { body(0) }
            while finished.load(ordering: .acquiring) < helpers.count {
                if oversubscribed { sched_yield() }
            }
            self.body = nil
        }

        func serve(_ index: Int, _ helper: Helper) {
            var seen = 0
            while true {
                var current = generation.load(ordering: .acquiring)
                let start = DispatchTime.now().uptimeNanoseconds
                while current == seen {
                    if DispatchTime.now().uptimeNanoseconds - start >= spinNanoseconds {
                        // Announce the sleep, then look once more: `run` either sees
                        // `parked` and signals, or this load sees the new generation.
                        helper.parked.store(true, ordering: .sequentiallyConsistent)
                        if generation.load(ordering: .sequentiallyConsistent) == seen { helper.semaphore.wait() }
                        helper.parked.store(false, ordering: .sequentiallyConsistent)
                    }
                    current = generation.load(ordering: .acquiring)
                }
                if current < 0 { break }
                seen = current
                withDenormalsFlushedToZero { body!(index) }
                finished.add(1, ordering: .releasing)
            }
            helper.exited.signal()
        }
    }

    private final class Helper: @unchecked Sendable {
        let parked = Atomic<Bool>(false)
        let semaphore = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
    }
}

/// Part `part` of `0 ..< n` split into `parts` contiguous ranges whose bounds
/// are multiples of `alignment` (except the end), so SIMD loops and cache lines
/// are not shared between threads. Later parts may be empty when n is small.
public func partition(_ n: Int, parts: Int, part: Int, alignment: Int = 16) -> Range<Int> {
    let units = (n + alignment - 1) / alignment
    let per = (units + parts - 1) / parts
    let lower = min(part * per * alignment, n)
    let upper = min((part + 1) * per * alignment, n)
    return lower ..< upper
}
