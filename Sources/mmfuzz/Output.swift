import ArgumentParser
import Foundation

/// Why a command stopped, as the JSON's `stopReason` says it.
enum StopReason: String, Encodable {
    /// The time or case limit was reached (`run`, `stress`).
    case limit
    /// The work was done (`bench`, `scenario`, `replay`, `trace`: the end
    /// of the input).
    case done
    /// A failure was found.
    case failure
    /// Ctrl-C or SIGTERM.
    case interrupted
}

/// The configuration every JSON result carries.
struct RunConfig: Encodable {
    var version = MMFuzz.version
    var command: String
    var cpus: Int
    var frames: Int
    /// `sequential`, `concurrent`, `mixed` (`run`), `threaded` (`stress`).
    var regime: String
    var seed: UInt64?
    var variants: [String]
}

/// Output paths (`--save`, `--report`), checked before the work starts.
enum OutputPath {
    /// Why `path` cannot be (or become) a writable directory, or nil when
    /// it can: an existing directory must be writable; a path that does
    /// not exist yet is created later, under its nearest existing
    /// ancestor, which must be a writable directory.
    static func problem(directory path: String) -> String? {
        // POSIX calls, not FileManager: this runs before every run, and
        // Foundation's file code would stay resident for the whole run.
        var st = stat()
        if stat(path, &st) == 0 {
            if st.st_mode & S_IFMT != S_IFDIR { return "\(path) exists and is not a directory" }
            if access(path, W_OK | X_OK) != 0 { return "\(path) is not writable" }
            return nil
        }
        var ancestor = parent(of: path)
        while stat(ancestor, &st) != 0 {
            let up = parent(of: ancestor)
            if up == ancestor { break }
            ancestor = up
        }
        guard stat(ancestor, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            return "cannot create \(path): \(ancestor) is not a directory"
        }
        if access(ancestor, W_OK | X_OK) != 0 {
            return "cannot create \(path): \(ancestor) is not writable"
        }
        return nil
    }

    /// `a/b/c` -> `a/b`, `c` -> `.`, `/c` -> `/`.
    private static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    static func check(_ option: String, _ path: String) throws {
        if let problem = problem(directory: path) {
            throw ValidationError("\(option) \(path): \(problem)")
        }
    }

    /// Writes `files` (name, contents) into `directory` so that none is
    /// ever half written: each goes to a temporary name first, and the
    /// renames happen only once every one is complete, in the order given
    /// (put the file that refers to the others last).
    static func writeAll(_ files: [(name: String, contents: String)], to directory: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var temporaries: [(String, String)] = []
        defer {
            for (tmp, _) in temporaries where fm.fileExists(atPath: tmp) {
                try? fm.removeItem(atPath: tmp)
            }
        }
        for file in files {
            let final = (directory as NSString).appendingPathComponent(file.name)
            let tmp = (directory as NSString).appendingPathComponent(".\(file.name).tmp-\(getpid())")
            temporaries.append((tmp, final))
            try Data(file.contents.utf8).write(to: URL(fileURLWithPath: tmp))
        }
        for (tmp, final) in temporaries {
            guard rename(tmp, final) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final])
            }
        }
    }
}
