import Foundation

/// `ranks.json`: every rank's parameter checksums and node, gathered to rank 0, so a user (and
/// the tests) can see that all ranks hold bit-identical parameters at the end of a run.
public enum RankReport {
    /// Gather `sets` (name, checksum) from every rank; rank 0 writes `path` (with `extra`
    /// facts, such as the BLAS kernel) and returns whether all ranks agree on every set (every
    /// rank returns the same answer).
    @discardableResult
    public static func write(_ collectives: Collectives, _ sets: [(String, UInt64)], extra: [String: String] = [:],
                             to path: String) throws -> Bool {
        var report: [String: Any] = ["ranks": collectives.size]
        for (k, v) in extra { report[k] = v }
        report["hosts"] = try collectives.allgather(collectives.hostName)
        var allSame = true
        for (name, sum) in sets {
            let all = try collectives.allgather(Int64(bitPattern: sum))
            allSame = allSame && Set(all).count == 1
            report[name] = all.map { String(UInt64(bitPattern: $0), radix: 16) }
        }
        report["identical"] = allSame
        if collectives.isRoot {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
        return allSame
    }
}
