/// The per-variant comparison that `mmfuzz trace` and `mmfuzz bench` both
/// print: one row per variant (by its short name), one column per figure,
/// as aligned text for the terminal or as a Markdown table for a report.
public struct ComparisonTable<Row> {
    /// A column: its heading and how a row shows in it.
    public struct Column {
        public var heading: String
        public var value: (Row) -> String

        public init(_ heading: String, _ value: @escaping (Row) -> String) {
            self.heading = heading
            self.value = value
        }
    }

    public var columns: [Column]
    /// The variant's short name of a row.
    public var variant: (Row) -> String

    public init(variant: @escaping (Row) -> String, columns: [Column]) {
        self.variant = variant
        self.columns = columns
    }

    /// Aligned text: the variant column on the left, figures right-aligned.
    public func text(_ rows: [Row]) -> String {
        let cells = rows.map { row in columns.map { $0.value(row) } }
        let names = rows.map(variant)
        let first = max("variant".count, names.map(\.count).max() ?? 0)
        let widths = columns.indices.map { i in
            max(columns[i].heading.count, cells.map { $0[i].count }.max() ?? 0)
        }
        func line(_ name: String, _ values: [String]) -> String {
            var s = name + String(repeating: " ", count: first - name.count)
            for (i, v) in values.enumerated() {
                s += "  " + String(repeating: " ", count: widths[i] - v.count) + v
            }
            return s
        }
        var out = line("variant", columns.map(\.heading)) + "\n"
        for (name, values) in zip(names, cells) {
            out += line(name, values) + "\n"
        }
        return out
    }

    /// A Markdown table: the variant column left-aligned, figures right.
    public func markdown(_ rows: [Row]) -> String {
        var out = "| variant | " + columns.map(\.heading).joined(separator: " | ") + " |\n"
        out += "|---|" + String(repeating: "---:|", count: columns.count) + "\n"
        for row in rows {
            out += "| \(variant(row)) | " + columns.map { $0.value(row) }.joined(separator: " | ") + " |\n"
        }
        return out
    }
}
