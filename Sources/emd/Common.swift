import ArgumentParser
import Foundation
import SwiftMPI
import BLAS
import Diffusion

/// Options every training command shares.
struct RunOptions: ParsableArguments {
    @Option(help: "JSON config file; flags given on the command line override it.")
    var config: String?

    @Option(help: "Output folder: checkpoints, metrics.jsonl, final model.")
    var out: String

    @Flag(help: "Continue from the newest checkpoint in --out.")
    var resume = false

    @Option(help: "OpenBLAS threads per rank (default: $EMD_BLAS_THREADS or 1).")
    var blasThreads: Int?
}

/// Start MPI and BLAS for a command; install the preemption handler.
func startRun(blasThreads: Int?) -> Communicator {
    let comm = Communicator.world
    if let t = blasThreads { BLAS.setThreads(t) } else { BLAS.configureThreadsFromEnvironment() }
    Preemption.install()
    return comm
}

/// Run `body` on every rank; on an error every rank reports it (rank-tagged on stderr) and the
/// process exits non-zero. A preempted run exits with `Preemption.exitCode` after its checkpoint.
func runCommand(_ comm: Communicator, _ body: () throws -> Void) throws {
    do {
        try body()
        MPI.finalize()
    } catch let stop as RunStop {
        FileHandle.standardError.write(Data("[rank \(comm.rank)] \(stop)\n".utf8))
        if case .preempted = stop { MPI.finalize(); throw ExitCode(Preemption.exitCode) }
        MPI.finalize()
        throw ExitCode(3)
    } catch let e as ExitCode {
        MPI.finalize()
        throw e
    } catch {
        FileHandle.standardError.write(Data("[rank \(comm.rank)] error: \(error)\n".utf8))
        // Other ranks may be inside a collective: end the whole job rather than hang.
        if comm.size > 1 { MPI.abort(comm, code: 2) }
        MPI.finalize()
        throw ExitCode(2)
    }
}

/// Write JSON (rank 0 only, atomically).
func writeJSON(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
}

func parseMixture(_ spec: String?) throws -> GaussianMixture? {
    guard let spec else { return nil }
    if spec == "ring" || spec == "default" { return .ring() }
    if spec.hasPrefix("random:") {
        guard let d = Int(spec.dropFirst(7)), d > 0, d <= 1 << 20 else { throw ValidationError("--mixture random:D needs D in 1...1048576") }
        return .randomDirections(dimension: d)
    }
    guard let data = FileManager.default.contents(atPath: spec) else { throw ValidationError("cannot read mixture file \(spec)") }
    do { return try GaussianMixture.decode(json: data, source: spec) } catch { throw ValidationError("\(error)") }
}

/// Gather every rank's parameter checksums; rank 0 logs them and writes `out/ranks.json`
/// (`identical` is true when every rank holds bit-identical parameters; `hosts` names the node
/// of each rank).
func reportChecksums(_ comm: Communicator, _ sets: [(String, UInt64)], out: String, log: TrainingProgress) throws {
    var report: [String: Any] = ["ranks": comm.size]
    // Node names, fixed-width so one allgather moves them.
    let width = 256
    var name = Array(MPI.processorName.utf8.prefix(width))
    name += [UInt8](repeating: 0, count: width - name.count)
    let names = try comm.allgather(name)
    report["hosts"] = (0..<comm.size).map { r in
        String(decoding: names[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self)
    }
    var allSame = true
    for (name, sum) in sets {
        let all = try comm.allgather([Int64(bitPattern: sum)])
        let same = Set(all).count == 1
        allSame = allSame && same
        report[name] = all.map { String(UInt64(bitPattern: $0), radix: 16) }
    }
    report["identical"] = allSame
    if comm.isRoot {
        try writeJSON(report, to: out + "/ranks.json")
        log.log("parameter checksums on \(comm.size) rank(s): \(allSame ? "identical" : "DIFFERENT")")
    }
}
