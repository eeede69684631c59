import MMSim

/// `mmfuzz trace --report DIR`: a Markdown table and an SVG chart of a
/// trace run, to be read at a glance.
extension TraceRun {
    /// `gather=vector,ptl=mm,preempt=on` as `vector/mm/on`.
    static func short(_ v: Variant) -> String {
        "\(v.gather.rawValue)/\(v.ptl.rawValue)/\(v.preempt ? "on" : "off")"
    }

    public static func shortPublic(_ v: Variant) -> String { short(v) }
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

    /// The Markdown table (one row per variant), as in docs/RESULTS.md.
    public func markdownTable() -> String {
        var out = "| variant | flushes | of which gather | zap breaks | IPIs | invlpg | full flushes | entries invalidated | pages freed per gather flush | misses after flush | modelled TLB time (ms) | longest preempt-off (ptes) | per-CPU gather bytes | lock acquisitions | contended | result |\n"
        out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        for (r, m) in zip(results, metrics) {
            let result = r.failure.map { "stopped at line \($0.line.map(String.init) ?? "end"): \($0.kind)" } ?? "clean"
            out += "| \(m.variant) | \(Self.grouped(m.flushes)) | \(Self.grouped(m.gatherFlushes)) | \(Self.grouped(m.zapBreaks)) | \(Self.grouped(m.ipis)) | \(Self.grouped(m.flushOne)) | \(Self.grouped(m.flushAll)) | \(Self.grouped(m.entriesInvalidated)) | \(Self.fixed(m.pagesFreedPerFlush, 1)) | \(Self.grouped(m.missesAfterFlush)) | \(Self.fixed(m.modelledTlbNs / 1e6, 2)) | \(m.maxPreemptOffPtes) | \(m.gatherPercpuBytes) | \(Self.grouped(m.lockAcquisitions)) | \(m.lockContended) | \(result) |\n"
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
        out += markdownTable() + "\n"
        for ptl in PTL.allCases {
            let a = Variant(gather: .vector, ptl: ptl, preempt: true)
            let b = Variant(gather: .inplace, ptl: ptl, preempt: true)
            if let r = ratios(a, over: b) {
                out += "- `\(a)` over `\(b)`: modelled TLB time \(Self.fixed(r.time, 2))x, flushes \(Self.fixed(r.flushes, 2))x (gather flushes \(Self.fixed(r.gatherFlushes, 2))x). The RFC: \"about 5x less time flushing on kbuild\".\n"
            }
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
            s += "<text x=\"\(Int(labelW - 8))\" y=\"\(Int(y + 15))\" text-anchor=\"end\">\(Self.short(row.variant))</text>\n"
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
