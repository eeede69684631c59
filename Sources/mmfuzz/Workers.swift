import Foundation
import MMFuzz

/// The workers of `mmfuzz run --jobs N`: a process of this executable per
/// worker (as libFuzzer's `-jobs`), each `mmfuzz run --jobs 1
/// --worker-index I --seed WORKER_SEED ...` with the run's options, so
/// that the worker's own command line reruns it alone.
///
/// A worker writes ``WorkerReport`` lines on a pipe (its standard
/// output); its standard input is a pipe from the run that carries
/// nothing: its end (the run closing it, or the run dying) asks the
/// worker to stop after its case (``WorkerControl``).  The run closes
/// them all at the first failure (unless --keep-going) and at the first
/// SIGINT or SIGTERM it gets, then reads every worker to its end and
/// reaps it.  The workers' standard error is the run's.
struct WorkerProcesses {
    /// The worker's arguments, after the executable's name.
    var arguments: (ParallelSession.Worker) -> [String]
    var settings: SessionSettings
    var jobs: Int

    /// A worker that ended without its summary.
    struct Lost {
        var index: Int
        var seed: UInt64
        /// `exit status 3`, `signal 11`, `could not start: ...`.
        var how: String
    }

    /// One started worker.
    private struct Child {
        var index: Int
        var seed: UInt64
        var pid: pid_t
        /// The read end of its reports, and the write end of its stop pipe
        /// (-1 once closed).
        var reports: Int32
        var control: Int32
        var buffer: [UInt8] = []
        var last: SessionProgress?
        var summary: SessionSummary?
        /// How it ended (`waitpid`'s status), once reaped.
        var status: Int32?

        /// Reaps it: its reports have ended, so it has exited or is about
        /// to (nothing else holds the pipe).
        mutating func reap() {
            var s: Int32 = 0
            while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
            status = s
        }
    }

    /// Starts the workers, reads them to their ends and returns their
    /// summaries merged, and the workers lost.  `shouldStop` is asked about
    /// ten times a second; `progress` is called about once a second with
    /// every worker's last figures summed (and this run's seconds).
    func run(_ workers: [ParallelSession.Worker], shouldStop: () -> Bool,
             progress: ((SessionProgress) -> Void)?) -> (summary: SessionSummary, lost: [Lost]) {
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Double {
            let d = (clock.now - start).components
            return Double(d.seconds) + Double(d.attoseconds) * 1e-18
        }
        var children: [Child] = []
        var lost: [Lost] = []
        for w in workers {
            do {
                children.append(try spawn(w))
            } catch {
                lost.append(Lost(index: w.index, seed: w.settings.seed, how: "could not start: \(error)"))
                break
            }
        }
        var stopped = false
        func stopAll() {
            guard !stopped else { return }
            stopped = true
            for i in children.indices where children[i].control >= 0 {
                close(children[i].control)
                children[i].control = -1
            }
        }
        if !lost.isEmpty { stopAll() }

        var lastReport = clock.now
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while children.contains(where: { $0.reports >= 0 }) {
            if shouldStop() { stopAll() }
            var fds = children.map { pollfd(fd: $0.reports, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 100)
            if ready > 0 {
                for i in children.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                    let n = read(children[i].reports, &chunk, chunk.count)
                    if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                    if n <= 0 {
                        close(children[i].reports)
                        children[i].reports = -1
                        children[i].reap()
                        // Ended without its summary: a crash stops the run.
                        if children[i].summary == nil { stopAll() }
                        continue
                    }
                    children[i].buffer += chunk[0 ..< n]
                    while let newline = children[i].buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = children[i].buffer[..<newline]
                        defer { children[i].buffer.removeSubrange(...newline) }
                        guard let report = try? WorkerReport.parse(line) else {
                            printError("mmfuzz: worker \(children[i].index): not a report: "
                                + String(decoding: line.prefix(200), as: UTF8.self))
                            continue
                        }
                        if let p = report.progress { children[i].last = p }
                        if report.found == true, !settings.keepGoing { stopAll() }
                        if let s = report.summary {
                            children[i].summary = s
                            children[i].last = SessionProgress(cases: s.cases, ops: s.ops, seconds: s.seconds,
                                                               failures: s.failures.count)
                        }
                    }
                }
            }
            if let progress, clock.now - lastReport >= .seconds(1) {
                lastReport = clock.now
                let each = children.compactMap(\.last)
                progress(SessionProgress(cases: each.reduce(0) { $0 + $1.cases },
                                         ops: each.reduce(0) { $0 + $1.ops }, seconds: elapsed(),
                                         failures: each.reduce(0) { $0 + $1.failures }))
            }
        }
        stopAll()
        let seconds = elapsed()
        for child in children where child.summary == nil {
            let status = child.status ?? 0
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
            let how = status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
            lost.append(Lost(index: child.index, seed: child.seed, how: how))
        }
        let summary = ParallelSession.merge(children.compactMap(\.summary), settings: settings, jobs: jobs,
                                            seconds: seconds)
        return (summary, lost.sorted { $0.index < $1.index })
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts worker `w` on two fresh pipes, close-on-exec in this process
    /// so that no other worker inherits them.
    private func spawn(_ w: ParallelSession.Worker) throws -> Child {
        var reports: [Int32] = [-1, -1]
        var control: [Int32] = [-1, -1]
        guard pipe(&reports) == 0 else {
            throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        guard pipe(&control) == 0 else {
            let e = errno
            close(reports[0])
            close(reports[1])
            throw SpawnError(description: "pipe: \(String(cString: strerror(e)))")
        }
        // (pipe2(O_CLOEXEC) is not imported; this process spawns from one
        // thread only.)
        for fd in reports + control {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        defer {
            // The child's ends, which it has now.
            close(control[0])
            close(reports[1])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, control[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, reports[1], STDOUT_FILENO)

        // This very executable, even if its file was replaced since.
        let path = "/proc/self/exe"
        let argv = [CommandLine.arguments.first ?? "mmfuzz"] + arguments(w)
        var cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, &cArgv, environ)
        guard rc == 0 else {
            close(control[1])
            close(reports[0])
            throw SpawnError(description: "\(path): \(String(cString: strerror(rc)))")
        }
        return Child(index: w.index, seed: w.settings.seed, pid: pid, reports: reports[0], control: control[1])
    }
}

/// The worker's side of ``WorkerProcesses``: its reports, and whether the
/// run asked it to stop.
enum WorkerControl {
    /// Whether standard input, the run's stop pipe, has ended (or carries
    /// anything): asked between cases, so a poll that does not wait.
    static func stopRequested() -> Bool {
        var fd = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) > 0
    }

    /// Writes a report on standard output, whole.  A run that has gone
    /// away ends the worker here (SIGPIPE).
    static func send(_ report: WorkerReport) {
        guard let data = try? report.line() else { return }
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(STDOUT_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}
