import Foundation

/// The Markdown table of `emd bench-mixtures`: per mixture, one row per model (the exact
/// teacher's Heun samples, then each K), with means over seeds and each seed's modes covered.
enum BenchMixturesTable {
    static func markdown(rows: [[String: Any]], mixtures: [String], ks: [Int], baselineSteps: Int, budgets: [String: Double]) -> String {
        var md = "| mixture | model | steps | on_mode mean [min, max] | modes covered (per seed) | weight_tv mean [min, max] | heaviest share (weight) | z_rms | step_rms |\n"
        md += "|---|---|---|---|---|---|---|---|---|\n"
        for spec in mixtures {
            for k in [0] + ks {
                let rs = rows.filter { $0["mixture"] as? String == spec && $0["K"] as? Int == k }
                guard !rs.isEmpty else { continue }
                func values(_ key: String) -> [Double] { rs.compactMap { $0[key] as? Double } }
                func summary(_ v: [Double]) -> String {
                    guard let lo = v.min(), let hi = v.max() else { return "—" }
                    return String(format: "%.3f [%.3f, %.3f]", v.reduce(0, +) / Double(v.count), lo, hi)
                }
                func metric(_ key: String) -> String {
                    let v = rs.compactMap { ($0["metrics"] as? [String: Any])?[key] as? Double }
                    return v.isEmpty ? "—" : String(format: "%.3g", v.reduce(0, +) / Double(v.count))
                }
                let modes = rs.compactMap { $0["modes_covered"] as? Int }.map(String.init).joined(separator: ", ")
                let total = (rs.first?["mode_shares"] as? [Double])?.count ?? 0
                let model = k == 0 ? "teacher (Heun, 35 NFE)" : k == 1 ? "K = 1 baseline" : "EMD K = \(k)"
                let steps = k == 0 ? "—" : rs.compactMap { $0["steps"] as? Int }.first.map(String.init) ?? "—"
                let heavy = summary(values("heaviest_share")).split(separator: " ").first.map(String.init) ?? "—"
                let weight = values("heaviest_weight").first.map { String(format: "%.3f", $0) } ?? "—"
                md += "| \(spec) | \(model) | \(steps) | \(summary(values("on_mode"))) | \(modes) of \(total) | "
                md += "\(summary(values("weight_tv"))) | \(heavy) (\(weight)) | \(metric("z_rms")) | \(metric("step_rms")) |\n"
            }
        }
        let seconds = mixtures.compactMap { budgets[$0] }.map { String(format: "%.0f", $0) }.joined(separator: ", ")
        md += "\nEqual wall time: the K = 1 baseline takes \(baselineSteps) steps and every K the same time by the step-time ratios measured before the runs (training seconds per run at the measured speed, per mixture: \(seconds)); means over seeds.\n"
        return md
    }
}
