// A small program that the multi-rank tests run under `mpirun`: each rank checks collective
// results against values it can compute alone and writes a JSON report, one file per rank.
// Usage: mpi-selftest SCENARIO OUTDIR   (scenarios: collectives, dp-gradient)
import Foundation
import SwiftMPI
import NN
import CounterRNG
import BLAS

struct Report {
    var checks: [[String: Any]] = []
    mutating func expect(_ name: String, _ ok: Bool, _ detail: String = "") {
        checks.append(["name": name, "ok": ok, "detail": detail])
    }
    var allOK: Bool { checks.allSatisfy { $0["ok"] as? Bool == true } }
}

func collectives(_ comm: Communicator, _ r: inout Report) throws {
    let rank = comm.rank, size = comm.size
    let n = Double(size)
    // All-reduce: sum, max, min in four types, in place and out of place.
    var f: [Float] = [Float(rank), 1, Float(-rank)]
    try comm.allreduce(&f, op: .sum)
    r.expect("allreduce.sum.float.inplace", f == [Float(n * (n - 1) / 2), Float(n), Float(-n * (n - 1) / 2)], "\(f)")
    let d = try comm.allreduce([Double(rank) + 0.5, Double(rank) * 2], op: .max)
    r.expect("allreduce.max.double", d == [n - 0.5, 2 * (n - 1)], "\(d)")
    let i32 = try comm.allreduce([Int32(rank + 3)], op: .min)
    r.expect("allreduce.min.int32", i32 == [3], "\(i32)")
    let i64 = try comm.allreduce(Int64(1) << 40 + Int64(rank), op: .sum)
    r.expect("allreduce.sum.int64", i64 == (Int64(1) << 40) * Int64(size) + Int64(size * (size - 1) / 2), "\(i64)")
    // Broadcast from the last rank.
    var b: [Double] = rank == size - 1 ? [3.25, -1, 7] : [0, 0, 0]
    try comm.broadcast(&b, root: size - 1)
    r.expect("broadcast", b == [3.25, -1, 7], "\(b)")
    let bytes = try comm.broadcast(bytes: rank == 0 ? Array("{\"config\": 1}".utf8) : [], root: 0)
    r.expect("broadcast.bytes", String(decoding: bytes, as: UTF8.self) == "{\"config\": 1}")
    // Gather and all-gather.
    let g = try comm.gather([Int32(rank), Int32(rank * 10)], root: 0)
    if rank == 0 {
        let want = (0..<size).flatMap { [Int32($0), Int32($0 * 10)] }
        r.expect("gather.root", g == want, "\(String(describing: g))")
    } else {
        r.expect("gather.nonroot", g == nil)
    }
    let ag = try comm.allgather([Float(rank) * 1.5])
    r.expect("allgather", ag == (0..<size).map { Float($0) * 1.5 }, "\(ag)")
    // Communicator management.
    let dup = try comm.dup()
    r.expect("dup", dup.rank == rank && dup.size == size)
    let half = try comm.split(color: rank % 2, key: -rank)
    let expectedSize = (0..<size).filter { $0 % 2 == rank % 2 }.count
    r.expect("split.size", half?.size == expectedSize, "\(String(describing: half?.size))")
    let members = try half!.allgather([Int32(rank)])
    r.expect("split.order", members == members.sorted(by: >), "key -rank reverses order: \(members)")
    let none = try comm.split(color: rank == 0 ? nil : 1, key: 0)
    r.expect("split.undefined", (rank == 0) == (none == nil))
    try comm.barrier()
    // Non-blocking all-reduce and broadcast; the request owns the buffer.
    var request: Request? = try {
        let buf = MPIBuffer<Float>(repeating: Float(rank + 1), count: 1 << 16)
        return try comm.iallreduce(buf, op: .sum)
    }()
    try request!.wait()
    r.expect("iallreduce.complete", request!.isComplete)
    request = nil
    let nb = MPIBuffer<Float>(repeating: Float(rank + 1), count: 1 << 16)
    let req = try comm.iallreduce(nb, op: .sum)
    var polls = 0
    while try !req.test() { polls += 1 }
    let want = Float(size * (size + 1) / 2)
    r.expect("iallreduce.test", nb.storage.allSatisfy { $0 == want }, "polls \(polls)")
    let bb = MPIBuffer<Int64>(rank == 0 ? [5, 6, 7] : [0, 0, 0])
    try comm.ibroadcast(bb, root: 0).wait()
    r.expect("ibroadcast", bb.array == [5, 6, 7], "\(bb.array)")
    // Invalid calls throw MPI errors instead of crashing.
    do {
        var x: [Float] = [1]
        try comm.broadcast(&x, root: size + 3)
        r.expect("error.badroot", false, "no error thrown")
    } catch let e as MPIError {
        r.expect("error.badroot", !e.message.isEmpty, e.description)
    }
    do {
        var x: [Float] = [1]
        try x.withUnsafeMutableBufferPointer { try comm.allreduce($0.baseAddress!, count: -1, op: .sum) }
        r.expect("error.negativecount", false, "no error thrown")
    } catch let e as MPIError {
        r.expect("error.negativecount", !e.message.isEmpty, e.description)
    }
    do {
        _ = try comm.gather([Float(1)], root: -2)
        r.expect("error.gather.badroot", false, "no error thrown")
    } catch let e as MPIError {
        r.expect("error.gather.badroot", true, e.description)
    }
    // The communicator still works after the errors.
    let after = try comm.allreduce(Int32(1), op: .sum)
    r.expect("works.after.errors", after == Int32(size))
}

/// The data-parallel gradient of an MLP over a global batch split across ranks equals the
/// gradient of the whole batch computed on one rank.
func dataParallelGradient(_ comm: Communicator, _ r: inout Report) throws {
    let net = MLPNetwork(inputSize: 6, hidden: 32, depth: 3, embeddingSize: 8)
    let p = Parameters(layout: net.layout)
    p.initialize(seed: 17)
    let global = 24
    func sample(_ i: Int) -> (x: [Float], c: Float, target: [Float]) {
        let x = Draws.normals(DrawKey(seed: 1, step: 0, purpose: .test, index: i), count: 6)
        let t = Draws.normals(DrawKey(seed: 2, step: 0, purpose: .test, index: i), count: 6)
        return (x, Draws.uniform(DrawKey(seed: 3, step: 0, purpose: .test, index: i)), t)
    }
    func gradient(_ indices: Range<Int>) -> [Float] {
        p.zeroGrads()
        let n = indices.count
        guard n > 0 else { return Array(p.gradBuffer) }
        var x = [Float](), c = [Float](), t = [Float]()
        for i in indices { let s = sample(i); x += s.x; c.append(s.c); t += s.target }
        let ws = net.makeWorkspace(batch: n)
        var y = [Float](repeating: 0, count: n * 6)
        net.forward(p, x: x, c: c, out: &y, batch: n, workspace: ws)
        // Loss: sum over the global batch of 1/2 |y - t|^2, divided by the global batch size.
        let dy = (0..<y.count).map { (y[$0] - t[$0]) / Float(global) }
        net.backward(p, dOut: dy, dx: nil, batch: n, workspace: ws, paramGrads: true)
        return Array(p.gradBuffer)
    }
    let reference = gradient(0..<global)
    let lo = comm.rank * global / comm.size, hi = (comm.rank + 1) * global / comm.size
    var shard = gradient(lo..<hi)
    try comm.allreduce(&shard, op: .sum)
    var diff = 0.0, norm = 0.0
    for i in 0..<shard.count {
        diff += Double(shard[i] - reference[i]) * Double(shard[i] - reference[i])
        norm += Double(reference[i]) * Double(reference[i])
    }
    let rel = (diff / norm).squareRoot()
    r.expect("dp.gradient.matches.single.rank", rel < 1e-5 && norm > 0, "relative difference \(rel)")
    // One optimizer step on the reduced gradient leaves identical parameters on every rank.
    shard.withUnsafeBufferPointer { p.grads.update(from: $0.baseAddress!, count: p.count) }
    Adam(count: p.count, learningRate: 1e-2).update(p)
    let sums = try comm.allgather([Int64(bitPattern: p.checksum())])
    r.expect("dp.parameters.identical", Set(sums).count == 1, "\(sums)")
}

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write("usage: mpi-selftest collectives|dp-gradient OUTDIR\n".data(using: .utf8)!)
    exit(2)
}
BLAS.setThreads(1)
let comm = Communicator.world
var report = Report()
do {
    switch args[1] {
    case "collectives": try collectives(comm, &report)
    case "dp-gradient": try dataParallelGradient(comm, &report)
    default:
        FileHandle.standardError.write("unknown scenario \(args[1])\n".data(using: .utf8)!)
        MPI.finalize(); exit(2)
    }
} catch {
    report.expect("no.unexpected.error", false, "\(error)")
}
let json: [String: Any] = ["rank": comm.rank, "size": comm.size, "scenario": args[1], "checks": report.checks]
let data = try! JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
try! data.write(to: URL(fileURLWithPath: args[2]).appendingPathComponent("rank\(comm.rank).json"))
MPI.finalize()
exit(report.allOK ? 0 : 1)
