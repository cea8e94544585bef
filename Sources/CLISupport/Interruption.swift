@preconcurrency import Glibc
import Synchronization

/// The signal that asked training to stop (SIGINT or SIGTERM), 0 while none has.
/// Set from a signal handler, so it is a lock-free atomic and nothing else.
let pendingSignal = Atomic<Int32>(0)

public enum Interruption {
    /// SIGINT and SIGTERM ask training to stop after the current batch; a second
    /// one exits at once (a process stuck inside a library call still ends).
    /// Checkpoints are renamed into place whole, so neither leaves a torn one.
    public static func install() {
        let handler: @convention(c) (Int32) -> Void = { signal in
            if pendingSignal.load(ordering: .relaxed) != 0 { _exit(Interruption.exitStatus(signal)) }
            pendingSignal.store(signal, ordering: .relaxed)
        }
        Glibc.signal(SIGINT, handler)
        Glibc.signal(SIGTERM, handler)
    }

    /// The signal received so far, if any.
    public static var received: Int32? {
        let signal = pendingSignal.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    public static func name(_ signal: Int32) -> String { signal == SIGTERM ? "SIGTERM" : "SIGINT" }

    /// 130 for SIGINT, 143 for SIGTERM (128 + the signal number, as shells report).
    public static func exitStatus(_ signal: Int32) -> Int32 {
        signal == SIGTERM ? ExitStatus.terminated : ExitStatus.interrupted
    }
}
