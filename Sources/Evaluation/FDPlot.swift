import Foundation

/// One evaluated model: its series (a model evaluated at several NFE forms a line), its NFE and
/// its FD.
public struct FDPoint: Sendable, Equatable {
    public let series: String
    public let nfe: Int
    public let fd: Double

    public init(series: String, nfe: Int, fd: Double) {
        self.series = series
        self.nfe = nfe
        self.fd = fd
    }
}

/// FD against NFE as an SVG chart, both axes logarithmic: a series with several NFE is a line
/// with a marker per point (a teacher over sampler lengths), a series at one NFE larger markers,
/// one per point (a one-step generator, or its seeds, at NFE 1).
public enum FDPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public static func svg(_ points: [FDPoint], title: String, width: Int = 860, height: Int = 440) -> String {
        let good = points.filter { $0.nfe >= 1 && $0.fd > 0 && $0.fd.isFinite }
        var names: [String] = []
        for p in good where !names.contains(p.series) { names.append(p.series) }
        // The legend's width follows its longest name (about 7 px per character at 12 px).
        let left = 70.0, right = Double(max(120, 7 * (names.map(\.count).max() ?? 0) + 50)), top = 40.0, bottom = 50.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let maxNFE = Double(good.map(\.nfe).max() ?? 1)
        let xHi = log10(max(maxNFE, 2) * 1.4)
        let fds = good.map(\.fd)
        let yLo = floor(log10(fds.min() ?? 1)), yHi = ceil(log10(fds.max() ?? 10) + 1e-9)
        func x(_ nfe: Int) -> Double { left + log10(Double(nfe)) / xHi * w }
        func y(_ fd: Double) -> Double { top + (yHi - log10(fd)) / max(yHi - yLo, 1) * h }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(left + w / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
        // Grid and ticks: 1, 2, 5 times powers of ten.
        var tick = 1.0
        while tick <= pow(10, xHi) {
            for m in [1.0, 2.0, 5.0] where m * tick <= pow(10, xHi) {
                let px = x(Int(m * tick))
                s += "<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(top + h))\" stroke=\"#ddd\"/>\n"
                s += "<text x=\"\(f(px))\" y=\"\(f(top + h + 16))\" text-anchor=\"middle\">\(Int(m * tick))</text>\n"
            }
            tick *= 10
        }
        var e = yLo
        while e < yHi {
            for m in [1.0, 2.0, 5.0] {
                let v = m * pow(10, e)
                guard log10(v) <= yHi + 1e-9 else { continue }
                s += "<line x1=\"\(f(left))\" y1=\"\(f(y(v)))\" x2=\"\(f(left + w))\" y2=\"\(f(y(v)))\" stroke=\"#ddd\"/>\n"
                s += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(v >= 1 ? String(Int(v)) : String(v))</text>\n"
            }
            e += 1
        }
        let axisTop = pow(10, yHi)
        s += "<text x=\"\(f(left - 6))\" y=\"\(f(y(axisTop) + 4))\" text-anchor=\"end\">\(Int(axisTop))</text>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"none\" stroke=\"black\"/>\n"
        s += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + h + 38))\" text-anchor=\"middle\">NFE (network evaluations per sample)</text>\n"
        s += "<text x=\"18\" y=\"\(f(top + h / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + h / 2)))\">FD</text>\n"
        for (i, name) in names.enumerated() {
            let color = palette[i % palette.count]
            let series = good.filter { $0.series == name }.sorted { $0.nfe < $1.nfe }
            // A line only across NFE: several points at one NFE (a generator's seeds) stay markers.
            let overNFE = Set(series.map(\.nfe)).count > 1
            if overNFE {
                let path = series.map { "\(f(x($0.nfe))),\(f(y($0.fd)))" }.joined(separator: " ")
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            }
            let r = overNFE ? 4 : 7
            for p in series {
                s += "<circle cx=\"\(f(x(p.nfe)))\" cy=\"\(f(y(p.fd)))\" r=\"\(r)\" fill=\"\(color)\"><title>\(escape(name)): NFE \(p.nfe), FD \(String(format: "%.1f", p.fd))</title></circle>\n"
            }
            let ly = top + 10 + Double(i) * 20
            s += "<circle cx=\"\(f(left + w + 20))\" cy=\"\(f(ly))\" r=\"5\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(f(left + w + 32))\" y=\"\(f(ly + 4))\">\(escape(name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
