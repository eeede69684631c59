import ArgumentParser
import Foundation
import MMFuzz
import MMSim

extension MachineOptions {
    /// The variants the fuzzing commands run: every one the simulator
    /// accepts when none is named (or with `all`); one named on its own
    /// must run (``validate()`` checked it).
    var fuzzVariants: [Variant] {
        let requested: [Variant]
        if selections.isEmpty {
            requested = Variant.allCombinations
        } else {
            requested = selections.flatMap { selection -> [Variant] in
                switch selection {
                case .all: Variant.allCombinations
                case .one(let v): [v]
                }
            }
        }
        var seen: Set<Variant> = []
        return requested.filter { variant in
            guard seen.insert(variant).inserted else { return false }
            return (try? Machine(config(for: variant))) != nil
        }
    }

    /// The frames asked for, or the machine's default.
    var framesOrDefault: Int {
        frames ?? MachineConfig.default.frames
    }
}

/// Writes to standard error without buffering.
func printError(_ text: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((text + terminator).utf8))
}

/// Whether standard error is a terminal.
var stderrIsTerminal: Bool {
    isatty(STDERR_FILENO) != 0
}

/// `12.3k`, `4.56M`.
func compact(_ x: Double) -> String {
    switch x {
    case ..<1_000: return String(format: "%.0f", x)
    case ..<1_000_000: return String(format: "%.1fk", x / 1_000)
    default: return String(format: "%.2fM", x / 1_000_000)
    }
}

/// Pads `s` to `width`, on the right (`left: true`) or the left.
func pad(_ s: String, _ width: Int, left: Bool = true) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? s + fill : fill + s
}

/// A JSON text for an `Encodable`, keys sorted.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
