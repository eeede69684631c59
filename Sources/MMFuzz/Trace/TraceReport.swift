import MMSim

/// `mmfuzz trace --report DIR`: a Markdown table and an SVG chart of a
/// trace run, to be read at a glance.
extension TraceRun {
    public static func fixedPublic(_ v: Double, _ digits: Int) -> String { fixed(v, digits) }

    static func grouped(_ v: UInt64) -> String {
        let s = String(v)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0, (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return out
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0 ..< digits { p *= 10 }
        let r = (v * p).rounded() / p
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        } else if digits > 0 {
            s += "." + String(repeating: "0", count: digits)
        }
        return s
    }

    /// The per-variant comparison: the figures of docs/DESIGN.md section 7.
    /// With huge pages (`--huge`) the huge-page counters are shown too.
    public var comparison: ComparisonTable<(TraceVariantResult, TraceMetrics)> {
        var table = ComparisonTable<(TraceVariantResult, TraceMetrics)>(variant: { $0.1.label }, columns: [
            .init("flushes") { Self.grouped($0.1.flushes) },
            .init("of which gather") { Self.grouped($0.1.gatherFlushes) },
            .init("zap breaks") { Self.grouped($0.1.zapBreaks) },
            .init("IPIs") { Self.grouped($0.1.ipis) },
            .init("invlpg") { Self.grouped($0.1.flushOne) },
            .init("full flushes") { Self.grouped($0.1.flushAll) },
            .init("entries invalidated") { Self.grouped($0.1.entriesInvalidated) },
            .init("pages freed per gather flush") { Self.fixed($0.1.pagesFreedPerFlush, 1) },
            .init("misses after flush") { Self.grouped($0.1.missesAfterFlush) },
            .init("modelled TLB time (ms)") { Self.fixed($0.1.modelledTlbNs / 1e6, 2) },
            .init("longest preempt-off (ptes)") { "\($0.1.maxPreemptOffPtes)" },
            .init("per-CPU gather bytes") { "\($0.1.gatherPercpuBytes)" },
            .init("lock acquisitions") { Self.grouped($0.1.lockAcquisitions) },
            .init("contended") { "\($0.1.lockContended)" },
            .init("result") { r in
                if r.0.interrupted { return "interrupted" }
                return r.0.failure.map { "stopped at line \($0.line.map(String.init) ?? "end"): \($0.kind)" } ?? "clean"
            },
        ])
        if results.contains(where: \.hugePages) {
            table.columns.insert(contentsOf: [
                .init("huge faults") { Self.grouped($0.1.hugeFaults) },
                .init("fallbacks") { Self.grouped($0.1.hugeFallbacks) },
                .init("splits") { Self.grouped($0.1.hugeSplits) },
                .init("huge zaps (vector)") { Self.grouped($0.1.hugeZapsVector) },
                .init("huge zaps (inplace)") { Self.grouped($0.1.hugeZapsInplace) },
                .init("huge fork copies") { Self.grouped($0.1.hugeForkCopies) },
                .init("huge pages freed") { Self.grouped($0.1.hugeFreed) },
                .init("phase-3 entries") { Self.grouped($0.1.phase3Entries) },
            ], at: table.columns.count - 1)
        }
        return table
    }

    /// The Markdown table (one row per variant), as in docs/RESULTS.md.
    public func markdownTable() -> String {
        comparison.markdown(Array(zip(results, metrics)))
    }

    /// The same as aligned text, for the terminal.
    public func textTable() -> String {
        comparison.text(Array(zip(results, metrics)))
    }

    /// `vector/split/preempt over inplace/split/preempt: modelled TLB
    /// time 1.23x, ...`, for each page-table lock with both gathers run.
    public func ratioLines(markdown: Bool = false) -> [String] {
        var out: [String] = []
        for huge in [false, true] {
            for ptl in PTL.allCases {
                let a = Variant(gather: .vector, ptl: ptl, preempt: true)
                let b = Variant(gather: .inplace, ptl: ptl, preempt: true)
                guard let r = ratios(a, over: b, hugePages: huge) else { continue }
                let q = markdown ? "`" : ""
                let (na, nb) = (TraceVariantResult.label(a, hugePages: huge), TraceVariantResult.label(b, hugePages: huge))
                out.append("\(q)\(na)\(q) over \(q)\(nb)\(q): modelled TLB time \(Self.fixed(r.time, 2))x, flushes \(Self.fixed(r.flushes, 2))x (gather flushes \(Self.fixed(r.gatherFlushes, 2))x)")
            }
        }
        return out
    }

    /// report.md: what was replayed, the table, the ratios, the chart.
    public func markdownReport(chartFile: String) -> String {
        let t = tally
        var out = "# Trace replay: \(source.name)\n\n"
        out += "\(t.events) events; \(t.replayed) replayed, \(t.skippedTotal) skipped.\n\n"
        if !t.skipped.isEmpty {
            out += "Skipped, by reason:\n\n"
            for (k, v) in t.skipped.sorted(by: { $0.value > $1.value }) { out += "- \(v): \(k)\n" }
            out += "\n"
        }
        if !t.notes.isEmpty {
            out += "What the replay made up or adapted:\n\n"
            for (k, v) in t.notes.sorted(by: { $0.key < $1.key }) { out += "- \(v): \(k)\n" }
            out += "\n"
        }
        if let h = results.first(where: \.hugePages), results.first?.hugePages == false {
            out += "With huge pages (`--huge`, the `+thp` rows), \(h.tally.machineCalls) machine calls (\(t.machineCalls) without):\n\n"
            for (k, v) in h.tally.notes.sorted(by: { $0.key < $1.key }) where t.notes[k] != v { out += "- \(v): \(k)\n" }
            out += "\n"
        }
        out += markdownTable() + "\n"
        for line in ratioLines(markdown: true) {
            out += "- \(line). The RFC: \"about 5x less time flushing on kbuild\".\n"
        }
        out += "\nCost model (`TLBCostModel`): invlpg \(Int(cost.invalidatePageNs)) ns, full flush \(Int(cost.fullFlushNs)) ns, IPI round trip \(Int(cost.ipiRoundTripNs)) ns, page walk after a flush \(Int(cost.pageWalkNs)) ns.\n\n"
        out += "![flushes, modelled TLB time and longest preempt-off stretch per variant](\(chartFile))\n"
        return out
    }

    /// The chart: three panels of horizontal bars, one bar per variant:
    /// TLB flushes (gather flushes darker), modelled TLB time, and the
    /// longest preemption-disabled stretch.
    public func svgChart() -> String {
        let m = metrics
        let rowH = 22.0, labelW = 150.0, panelW = 260.0, gap = 40.0, top = 58.0
        let width = labelW + 3 * panelW + 2 * gap + 30
        let height = top + Double(m.count) * rowH + 40
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="10" y="20" font-size="15" font-weight="bold">\(Self.escape("Trace replay: " + source.name))</text>

            """
        let panels: [(String, [Double], [Double]?, String, (Double) -> String)] = [
            ("TLB flushes (dark: from the gather)", m.map { Double($0.flushes) }, m.map { Double($0.gatherFlushes) },
             "#4a78b0", { Self.grouped(UInt64($0)) }),
            ("modelled TLB time (ms)", m.map { $0.modelledTlbNs / 1e6 }, nil, "#c0504d", { Self.fixed($0, 1) }),
            ("longest preempt-off stretch (ptes)", m.map { Double($0.maxPreemptOffPtes) }, nil, "#6a9a3a",
             { String(Int($0)) }),
        ]
        for (i, row) in m.enumerated() {
            let y = top + Double(i) * rowH
            s += "<text x=\"\(Int(labelW - 8))\" y=\"\(Int(y + 15))\" text-anchor=\"end\">\(row.label)</text>\n"
        }
        for (p, panel) in panels.enumerated() {
            let x0 = labelW + Double(p) * (panelW + gap)
            let maxV = max(panel.1.max() ?? 0, 1e-9)
            s += "<text x=\"\(Int(x0))\" y=\"\(Int(top - 10))\" font-weight=\"bold\">\(Self.escape(panel.0))</text>\n"
            s += "<line x1=\"\(Int(x0))\" y1=\"\(Int(top - 2))\" x2=\"\(Int(x0))\" y2=\"\(Int(top + Double(m.count) * rowH))\" stroke=\"#888\"/>\n"
            for (i, v) in panel.1.enumerated() {
                let y = top + Double(i) * rowH + 3
                let w = (panelW - 70) * v / maxV
                s += "<rect x=\"\(Int(x0))\" y=\"\(Int(y))\" width=\"\(Self.fixed(w, 1))\" height=\"\(Int(rowH - 6))\" fill=\"\(panel.3)\" fill-opacity=\"0.55\"/>\n"
                if let inner = panel.2?[i] {
                    let wi = (panelW - 70) * inner / maxV
                    s += "<rect x=\"\(Int(x0))\" y=\"\(Int(y))\" width=\"\(Self.fixed(wi, 1))\" height=\"\(Int(rowH - 6))\" fill=\"\(panel.3)\"/>\n"
                }
                s += "<text x=\"\(Self.fixed(x0 + w + 4, 1))\" y=\"\(Int(y + 12))\">\(panel.4(v))</text>\n"
            }
        }
        s += "<text x=\"10\" y=\"\(Int(height - 12))\" fill=\"#555\">variant = gather/ptl/preempt; shorter bars are better; same work on every variant</text>\n"
        s += "</svg>\n"
        return s
    }

    static func escape(_ s: String) -> String {
        s.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

extension String {
    fileprivate func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for ch in self { if ch == a { out += b } else { out.append(ch) } }
        return out
    }
}
