import ArgumentParser
import Foundation
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM: the first one asks the running command to
/// stop at its next operation boundary, print what it has so far and exit
/// with ``exitStatus``; a second one kills the process as usual.
enum Interrupt {
    /// The exit status of a command stopped by a signal (128 + SIGINT, as a
    /// shell reports Ctrl-C), for SIGTERM too.
    static let exitStatus: Int32 = 130

    private static let received = Atomic<Int32>(0)

    /// Installs the handlers.  Call once, before the work starts.
    static func install() {
        // A parent may have started us with them blocked (a blocked mask
        // is inherited across exec): unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { sig in
                // Async-signal-safe: an atomic store and signal(2).
                Interrupt.received.store(sig, ordering: .relaxed)
                signal(sig, SIG_DFL)
            }
        }
    }

    /// Whether a stop was asked for.
    static var requested: Bool {
        received.load(ordering: .relaxed) != 0
    }

    /// `ExitCode(130)` when a stop was asked for: throw it after printing
    /// the summary.
    static func exitIfRequested() throws {
        if requested {
            throw ExitCode(exitStatus)
        }
    }
}
