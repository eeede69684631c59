import MMFuzz
import MMSim

/// Text output shared by the subcommands.
enum Report {
    /// The counters, one row each, one column per variant, with a legend.
    static func table(_ results: [VariantResult]) -> String {
        var lines: [String] = []
        for (i, r) in results.enumerated() {
            lines.append("[\(i + 1)] \(r.variant.name)")
        }
        lines.append("")

        let names = Stats().counters.map(\.name)
        let headings = results.enumerated().map { i, r in "[\(i + 1)] \(r.variant.name)" }
        let columns = results.map { $0.stats.counters.map { String($0.value) } }
        let nameWidth = max(names.map(\.count).max() ?? 0, "counter".count)
        let widths = headings.indices.map { i in
            max(headings[i].count, columns[i].map(\.count).max() ?? 0)
        }

        var header = pad("counter", nameWidth, left: true)
        for (i, h) in headings.enumerated() {
            header += "  " + pad(h, widths[i], left: false)
        }
        lines.append(header)
        for (row, name) in names.enumerated() {
            var line = pad(name, nameWidth, left: true)
            for (i, column) in columns.enumerated() {
                line += "  " + pad(column[row], widths[i], left: false)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// Violations and wrong results, per variant, and a closing count line.
    static func problems(_ results: [VariantResult]) -> (text: String, count: Int) {
        var text = ""
        var violations = 0
        var failures = 0
        for r in results where !r.violations.isEmpty || !r.failures.isEmpty {
            text += "\(r.variant.name):\n"
            for v in r.violations {
                text += "  violation: \(v)\n"
            }
            for f in r.failures {
                text += "  wrong result: \(f)\n"
            }
            violations += r.violations.count
            failures += r.failures.count
        }
        text += "\(results.count) variants: \(violations) violations, \(failures) wrong results\n"
        return (text, violations + failures)
    }
}
