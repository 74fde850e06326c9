import ArgumentParser
import Foundation
import FileFormats
import Training
import SwiftMPI
import BLAS
import NN
import CounterRNG
import Diffusion

/// `emd bench`: the machine (CPU, vector extensions, BLAS kernel, the core's peak FLOP rate),
/// raw sgemm speed, the MLP's forward+backward throughput relative to sgemm and to the peak,
/// and (on more than one rank) all-reduce latency and bandwidth.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure sgemm, MLP forward+backward and all-reduce throughput.")

    @Option(help: "Write the results as JSON to this file (rank 0).")
    var json: String?

    @Option(help: "Timed repetitions per measurement (the median is reported).")
    var repeats: Int = 7

    @Option(help: "Batch size of the MLP measurement.")
    var batch: Int = 256

    @Option(help: "U-Net measurement: base channels, image side, batch (the U-Net teacher of the images pipeline).")
    var unet = "32,28,64"

    @Option(help: "Convolution scratch budgets (floats, comma-separated) to time the U-Net with; the first is reported as unet_utilization. 0: one sample per GEMM (per-sample convolution).")
    var convScratch = "\(Conv2D.defaultScratchFloats),0"

    @Option(help: "OpenBLAS threads per rank (default: $EMD_BLAS_THREADS or 1).")
    var blasThreads: Int?

    @Option(name: .customLong("conv"), help: "Time one convolution layer instead of the networks: IN,OUT,SIDE,BATCH[,KERNEL[,STRIDE]] (repeatable; forward, weight and input gradients, the default scratch). Each backend in turn (im2col + OpenBLAS, oneDNN); only the machine, sgemm and these layers are measured.")
    var convs: [String] = []

    func run() throws {
        try InputLimits.require(repeats, "--repeats", in: 1...100_000)
        try InputLimits.require(batch, "--batch", in: 1...65_536)
        try validateBLASThreads(blasThreads)
        let u = unet.split(separator: ",").compactMap { Int($0) }
        guard u.count == 3, (1...512).contains(u[0]), (4...256).contains(u[1]), u[1] % 4 == 0, (1...4096).contains(u[2]) else {
            throw ValidationError("--unet needs CHANNELS,SIDE,BATCH (channels 1...512, side 4...256 divisible by 4, batch 1...4096), got \(unet)")
        }
        let budgets = convScratch.split(separator: ",").compactMap { Int($0) }
        guard !budgets.isEmpty, budgets.allSatisfy({ (0...(1 << 28)).contains($0) }) else {
            throw ValidationError("--conv-scratch needs comma-separated float counts in 0...2^28, got \(convScratch)")
        }
        let convShapes = try convs.map(Self.parseConv)
        let comm = startBenchmarkRun(blasThreads: blasThreads)
        defer { MPI.finalize() }
        try checkOutputBeforeWork(json, flag: "--json", comm)
        let log = TrainingProgress(isRoot: comm.isRoot, totalSteps: 1, every: 1)
        var result: [String: Any] = [
            "ranks": comm.size, "blas_threads": BLAS.threads, "repeats": repeats,
            "date": ISO8601DateFormatter().string(from: Date()), "host": ProcessInfo.processInfo.hostName,
        ]
        let machine = MachineSummary.measure()
        machine.lines.forEach(log.log)
        result["machine"] = machine.json
        var sgemm: [String: Double] = [:]
        for n in [256, 1024] {
            sgemm["\(n)"] = gemmGFLOPs(m: n, n: n, k: n)
            log.log(String(format: "sgemm %4d x %4d x %4d: %7.2f GFLOP/s", n, n, n, sgemm["\(n)"]!)
                    + (machine.ofPeak(sgemm["\(n)"]!).map { String(format: " (%.2f of the core's peak)", $0) } ?? ""))
        }
        result["sgemm_gflops"] = sgemm
        if !convShapes.isEmpty {
            var rows: [[String: Any]] = []
            for shape in convShapes {
                for row in measureConv(shape) {
                    rows.append(row)
                    log.log(String(format: "conv %@ in=%d out=%d side=%d batch=%d kernel=%d stride=%d: %.3f ms fwd+bwd, %.2f GFLOP/s%@",
                                   row["backend"] as! String, shape.in, shape.out, shape.side, shape.batch, shape.kernel,
                                   shape.stride, 1000 * (row["seconds"] as! Double), row["gflops"] as! Double,
                                   (row["implementation"] as? String).map { " (\($0))" } ?? ""))
                }
            }
            result["conv"] = rows
            if comm.isRoot, let json {
                try writeJSON(result, to: json)
                log.log("wrote \(json)")
            }
            return
        }
        let mlp = measureMLP()
        result["mlp"] = mlp
        // Utilisation against the sgemm(1024) timed in alternation with the MLP steps, so that
        // both see the same machine load (this VM's speed drifts by 10-20% within a minute).
        let peak = mlp["sgemm_1024_interleaved_gflops"] as! Double
        let util = (mlp["gflops"] as! Double) / peak
        result["mlp_utilization"] = util
        result["mlp_gemm_only_utilization"] = (mlp["gflops"] as! Double) / (mlp["gemm_only_gflops"] as! Double)
        if let ofPeak = machine.ofPeak(mlp["gflops"] as! Double) {
            result["mlp_utilization_of_peak"] = ofPeak
            log.log(String(format: "MLP fwd+bwd: %.3f of the core's peak FLOP rate (%@ kernel)", ofPeak, machine.blasCore))
        }
        log.log(String(format: "MLP 784-1024x3-784 fwd+bwd, batch %d: %.2f GFLOP/s (%.1f ms/step), utilization %.3f of sgemm(1024) timed alongside (%.2f GFLOP/s); same GEMMs alone %.2f GFLOP/s",
                        batch, mlp["gflops"] as! Double, 1000 * (mlp["seconds_per_step"] as! Double), util, peak,
                        mlp["gemm_only_gflops"] as! Double))
        var unetRows: [[String: Any]] = []
        for budget in budgets {
            var row = measureUNet(channels: u[0], side: u[1], batch: u[2], budget: budget)
            let gflops = row["gflops"] as! Double, alongside = row["sgemm_1024_interleaved_gflops"] as! Double
            row["utilization"] = gflops / alongside
            if let ofPeak = machine.ofPeak(gflops) { row["utilization_of_peak"] = ofPeak }
            unetRows.append(row)
            log.log(String(format: "U-Net c=%d %dx%d fwd+bwd, batch %d, conv scratch %d floats: %.1f samples/s, %.2f GFLOP/s, utilization %.3f of sgemm(1024) timed alongside (%.2f)%@",
                           u[0], u[1], u[1], u[2], budget, row["samples_per_s"] as! Double, gflops, gflops / alongside, alongside,
                           machine.ofPeak(gflops).map { String(format: ", %.3f of the core's peak", $0) } ?? ""))
        }
        result["unet"] = unetRows
        result["unet_utilization"] = unetRows[0]["utilization"]
        let rng = measureNormals()
        result["normals"] = rng
        log.log(String(format: "normal draws (Philox + Box-Muller): %.1f M/s; scalar libm reference %.1f M/s (%.2fx)",
                        rng["simd_per_second"]! / 1e6, rng["scalar_per_second"]! / 1e6, rng["simd_per_second"]! / rng["scalar_per_second"]!))
        if comm.size > 1, let mpi = (comm as? MPICollectives)?.communicator {
            var rows: [[String: Any]] = []
            // From one float (the latency, alpha) to 16 MB (the bandwidth).
            for bytes in [4, 4096, 65536, 1 << 20, 4 << 20, 16 << 20] {
                let r = try allreduce(mpi, bytes: bytes)
                rows.append(r)
                log.log(String(format: "allreduce %8d bytes over %d ranks: %8.3f ms, %7.3f GB/s algorithm bandwidth",
                                bytes, comm.size, 1000 * (r["seconds"] as! Double), r["algbw_gbps"] as! Double))
            }
            let fit = LinkModel.fitRingAllreduce(ranks: comm.size, samples: rows.map {
                (Double($0["bytes"] as! Int), $0["seconds"] as! Double) })
            result["allreduce_fit"] = ["alpha_us": fit.alpha * 1e6, "bandwidth_gbps": fit.bandwidth / 1e9]
            log.log(String(format: "alpha-beta fit of a %d-rank ring (docs/scaling.md): alpha %.2f us per message, %.2f GB/s per link",
                           comm.size, fit.alpha * 1e6, fit.bandwidth / 1e9))
            result["allreduce"] = rows
        }
        if comm.isRoot, let json {
            try writeJSON(result, to: json)
            log.log("wrote \(json)")
        }
    }

    func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

    /// Normals per second from `Draws.normal` (four Philox blocks and the transform in SIMD
    /// lanes), and from the same Box-Muller formula one block at a time with libm's scalar
    /// logf/sinf/cosf (the implementation before the SIMD one), timed alternately.
    func measureNormals() -> [String: Double] {
        let n = 784 * 256
        let out = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { out.deallocate() }
        var simd: [Double] = [], scalar: [Double] = []
        for r in 0..<repeats {
            var t0 = WallClock.now()
            for i in 0..<256 { Draws.normal(DrawKey(seed: 1, step: r, purpose: .test, index: i), into: out + i * 784, count: 784) }
            simd.append(WallClock.now() - t0)
            t0 = WallClock.now()
            for i in 0..<256 {
                let key = DrawKey(seed: 1, step: r, purpose: .test, index: i), o = out + i * 784
                for j in 0..<196 {
                    let b = key.block(j)
                    let r0 = sqrtf(-2 * logf(Draws.unitFloat(b[0]))), t0 = 2 * Float.pi * Draws.unitFloat(b[1])
                    let r1 = sqrtf(-2 * logf(Draws.unitFloat(b[2]))), t1 = 2 * Float.pi * Draws.unitFloat(b[3])
                    o[4 * j] = r0 * cosf(t0); o[4 * j + 1] = r0 * sinf(t0); o[4 * j + 2] = r1 * cosf(t1); o[4 * j + 3] = r1 * sinf(t1)
                }
            }
            scalar.append(WallClock.now() - t0)
        }
        return ["simd_per_second": Double(n) / median(simd), "scalar_per_second": Double(n) / median(scalar)]
    }

    func time(_ body: () -> Void) -> Double {
        body() // warm-up
        var ts: [Double] = []
        for _ in 0..<repeats {
            let t0 = WallClock.now()
            body()
            ts.append(WallClock.now() - t0)
        }
        return median(ts)
    }

    func gemmGFLOPs(m: Int, n: Int, k: Int) -> Double {
        let a = Tensor(shape: [m, k]), b = Tensor(shape: [k, n]), c = Tensor(shape: [m, n])
        a.fill(0.5); b.fill(0.25)
        let inner = max(1, 2_000_000_000 / (2 * m * n * k))
        let t = time { for _ in 0..<inner { BLAS.gemm(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: c.data, ldc: n) } }
        return Double(2 * m * n * k * inner) / t / 1e9
    }

    /// Forward + backward of the MLP, and the same matrix products issued directly to BLAS.
    func measureMLP() -> [String: Any] {
        let net = MLPNetwork(inputSize: 784, hidden: 1024, depth: 3, embeddingSize: 0)
        let p = Parameters(layout: net.layout)
        p.initialize(seed: 1)
        let ws = net.makeWorkspace(batch: batch)
        let x = Tensor(shape: [batch, 784]), y = Tensor(shape: [batch, 784]), c = Tensor(shape: [batch])
        x.fill(0.1)
        let (step, interleaved) = timedAlongsideSgemm(repeats: max(repeats, 5)) {
            net.forward(p, x: x.data, c: c.data, out: y.data, batch: batch, workspace: ws)
            net.backward(p, dOut: y.data, dx: nil, batch: batch, workspace: ws, paramGrads: true)
        }
        // FLOPs issued: forward and weight-gradient products of every layer, input-gradient
        // products of every layer but the first (no dx for the input).
        let dims = [(784, 1024), (1024, 1024), (1024, 1024), (1024, 784)]
        var flops = 0
        for (i, (fin, fout)) in dims.enumerated() { flops += 2 * batch * fin * fout * (i == 0 ? 2 : 3) }
        // The same products straight to BLAS, with no layer code around them.
        let bufA = Tensor(shape: [batch * 1024]), bufB = Tensor(shape: [batch * 1024]), w = Tensor(shape: [1024 * 1024])
        let gw = Tensor(shape: [1024 * 1024])
        let gemmOnly = time {
            for (fin, fout) in dims {
                BLAS.gemm(transB: true, m: batch, n: fout, k: fin, a: bufA.data, lda: fin, b: w.data, ldb: fin, c: bufB.data, ldc: fout)
            }
            for (i, (fin, fout)) in dims.enumerated().reversed() {
                BLAS.gemm(transA: true, m: fout, n: fin, k: batch, a: bufB.data, lda: fout, b: bufA.data, ldb: fin,
                          beta: 1, c: gw.data, ldc: fin)
                if i > 0 {
                    BLAS.gemm(m: batch, n: fin, k: fout, a: bufB.data, lda: fout, b: w.data, ldb: fin, c: bufA.data, ldc: fin)
                }
            }
        }
        return ["batch": batch, "flops_per_step": flops, "seconds_per_step": step, "sgemm_1024_interleaved_gflops": interleaved,
                "gflops": Double(flops) / step / 1e9, "gemm_only_seconds": gemmOnly,
                "gemm_only_gflops": Double(flops) / gemmOnly / 1e9]
    }

    /// Forward + backward (parameter and input gradients) of the U-Net, with one sgemm(1024)
    /// timed after each step under the same load. FLOPs: 3 x the forward's matrix FLOPs (the
    /// forward, the weight gradient and the input gradient of every layer; the stem's input
    /// gradient, which the network skips, is under 0.1% of it).
    func measureUNet(channels: Int, side: Int, batch: Int, budget: Int) -> [String: Any] {
        var net = UNetNetwork(side: side, channels: channels, embedding: 64)
        net.convScratchFloats = budget
        let p = Parameters(layout: net.layout)
        p.initialize(seed: 1)
        let ws = net.makeWorkspace(batch: batch)
        let d = side * side
        let x = Tensor(shape: [batch, d]), y = Tensor(shape: [batch, d]), c = Tensor(shape: [batch])
        for i in 0..<(batch * d) { x.data[i] = Float(i % 17) / 17 - 0.5 }
        let (t, interleaved) = timedAlongsideSgemm(repeats: max(repeats, 3)) {
            net.forward(p, x: x.data, c: c.data, out: y.data, batch: batch, workspace: ws)
            net.backward(p, dOut: y.data, dx: nil, batch: batch, workspace: ws, paramGrads: true)
        }
        let flops = 3 * 2 * Double(net.macsPerSample) * Double(batch)
        return ["channels": channels, "side": side, "batch": batch, "conv_scratch_floats": budget, "seconds_per_step": t,
                "samples_per_s": Double(batch) / t, "gflops": flops / t / 1e9, "sgemm_1024_interleaved_gflops": interleaved]
    }

    typealias ConvShape = (in: Int, out: Int, side: Int, batch: Int, kernel: Int, stride: Int)

    static func parseConv(_ text: String) throws -> ConvShape {
        let v = text.split(separator: ",").map { Int($0) }
        guard (4...6).contains(v.count), v.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--conv needs IN,OUT,SIDE,BATCH[,KERNEL[,STRIDE]], got \(text)")
        }
        let n = v.map { $0! }
        let shape = (in: n[0], out: n[1], side: n[2], batch: n[3], kernel: n.count > 4 ? n[4] : 3, stride: n.count > 5 ? n[5] : 1)
        guard (1...1024).contains(shape.in), (1...1024).contains(shape.out), (2...512).contains(shape.side),
              (1...4096).contains(shape.batch), [1, 3].contains(shape.kernel), [1, 2].contains(shape.stride) else {
            throw ValidationError("--conv \(text): channels 1...1024, side 2...512, batch 1...4096, kernel 1 or 3, stride 1 or 2")
        }
        return shape
    }

    /// One convolution's forward pass, weight and bias gradients and input gradient over a
    /// batch, as the U-Net runs it, with each backend in turn (im2col with the default scratch,
    /// then oneDNN). FLOPs: 3 x the forward's.
    func measureConv(_ s: ConvShape) -> [[String: Any]] {
        var layout = ParameterLayout()
        var conv = Conv2D(&layout, "conv", in: s.in, out: s.out, kernel: s.kernel, stride: s.stride, height: s.side, width: s.side)
        let p = Parameters(layout: layout)
        p.initialize(seed: 1)
        let col = conv.makeCache(batch: s.batch)
        let x = Tensor(shape: [s.batch * conv.inSize]), y = Tensor(shape: [s.batch * conv.outSize])
        let dx = Tensor(shape: [s.batch * conv.inSize])
        for i in 0..<x.count { x.data[i] = Float(i % 17) / 17 - 0.5 }
        let flops = 3 * 2 * Double(conv.macsPerSample) * Double(s.batch)
        return [ConvBackend.im2col, .onednn].map { backend in
            conv.backend = backend
            let t = time {
                conv.forward(p, x.data, y.data, batch: s.batch, col: col)
                conv.backward(p, x: x.data, dy: y.data, dx: dx.data, batch: s.batch, col: col)
            }
            var row: [String: Any] = ["backend": backend.rawValue, "in": s.in, "out": s.out, "side": s.side, "batch": s.batch,
                                      "kernel": s.kernel, "stride": s.stride, "seconds": t, "gflops": flops / t / 1e9]
            if backend == .onednn { row["implementation"] = conv.oneDNNImplementation(batch: s.batch) }
            return row
        }
    }

    /// Median seconds of `step` and the GFLOP/s of an sgemm(1024) timed after each step under
    /// the same load (this VM's speed drifts within a minute), after one warm-up of each.
    func timedAlongsideSgemm(repeats: Int, _ step: () -> Void) -> (seconds: Double, sgemmGFLOPs: Double) {
        let n = 1024
        let a = Tensor(shape: [n, n]), b = Tensor(shape: [n, n]), c = Tensor(shape: [n, n])
        a.fill(0.5); b.fill(0.25)
        func gemm() { BLAS.gemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n) }
        step(); gemm()
        var stepTimes: [Double] = [], gemmTimes: [Double] = []
        for _ in 0..<repeats {
            var t0 = WallClock.now()
            step()
            stepTimes.append(WallClock.now() - t0)
            t0 = WallClock.now()
            gemm(); gemm()
            gemmTimes.append((WallClock.now() - t0) / 2)
        }
        return (median(stepTimes), 2 * Double(n * n * n) / median(gemmTimes) / 1e9)
    }

    func allreduce(_ comm: Communicator, bytes: Int) throws -> [String: Any] {
        let count = bytes / 4
        let buf = Tensor(shape: [count])
        buf.fill(1)
        try comm.barrier()
        var ts: [Double] = []
        for i in 0...(bytes < 65536 ? 20 * repeats : repeats) {
            try comm.barrier()
            let t0 = WallClock.now()
            try comm.allreduce(buf.data, count: count, op: .sum)
            let dt = WallClock.now() - t0
            if i > 0 { ts.append(dt) }
        }
        // Every rank's median, then the slowest rank's.
        let t = try comm.allreduce(median(ts), op: .max)
        let size = Double(count * 4)
        return ["bytes": count * 4, "megabytes": size / 1_048_576, "seconds": t, "algbw_gbps": size / t / 1e9,
                "busbw_gbps": size / t / 1e9 * 2 * Double(comm.size - 1) / Double(comm.size)]
    }
}
