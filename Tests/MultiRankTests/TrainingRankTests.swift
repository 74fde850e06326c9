import Foundation
import XCTest
import Training
import Diffusion

/// `emd train-teacher` and `emd distill` under mpirun: rank-count invariance, identical
/// parameters on every rank, preemption and resume.
final class TrainingRankTests: XCTestCase {
    static let teacherArgs = ["train-teacher", "--data", "mixture", "--hidden", "32", "--steps", "60", "--batch", "64",
                              "--log-every", "20", "--checkpoint-every", "30"]

    /// One small teacher (60 steps on the mixture) shared by every test of this class.
    nonisolated(unsafe) static var teacherFixture: URL?
    static func sharedTeacher() throws -> URL {
        if let t = teacherFixture { return t }
        let dir = try MPIRun.tempDir("shared-teacher")
        let r = try MPIRun.runSingle("emd", teacherArgs + ["--out", dir.path], timeout: 120)
        guard r.status == 0 else { throw NSError(domain: "fixture", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: r.output]) }
        teacherFixture = dir
        return dir
    }

    func emd(ranks: Int, _ args: [String], timeout: TimeInterval = 300, file: StaticString = #filePath,
             line: UInt = #line) throws -> MPIRun.Result {
        let r = try ranks == 1 ? MPIRun.runSingle("emd", args, timeout: timeout) : MPIRun.run(ranks: ranks, "emd", args, timeout: timeout)
        XCTAssertFalse(r.timedOut, "emd \(args.first ?? "") on \(ranks) ranks hung", file: file, line: line)
        return r
    }

    func tensors(_ path: String, group: String) throws -> [Float] {
        let c = try Checkpoint.read(path)
        return c.tensors.keys.filter { $0.hasPrefix(group + ".") }.sorted().flatMap { c.tensors[$0]!.values }
    }

    func assertClose(_ a: [Float], _ b: [Float], relative: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var diff = 0.0, norm = 0.0
        for i in 0..<min(a.count, b.count) { diff += Double(a[i] - b[i]) * Double(a[i] - b[i]); norm += Double(a[i]) * Double(a[i]) }
        XCTAssertLessThan((diff / max(norm, 1e-30)).squareRoot(), relative, what, file: file, line: line)
        XCTAssertGreaterThan(norm, 0, what, file: file, line: line)
    }

    func ranksIdentical(_ dir: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: dir.appendingPathComponent("ranks.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        XCTAssertEqual(json?["identical"] as? Bool, true, "ranks.json: \(String(describing: json))", file: file, line: line)
    }

    /// 1-rank and 2-rank teacher training of the same global batches agree; both ranks end identical.
    func testTeacherTrainingOneVersusTwoRanks() throws {
        let one = try MPIRun.tempDir("t1"), two = try MPIRun.tempDir("t2")
        let r1 = try emd(ranks: 1, Self.teacherArgs + ["--out", one.path])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r2 = try emd(ranks: 2, Self.teacherArgs + ["--out", two.path])
        XCTAssertEqual(r2.status, 0, r2.output)
        try ranksIdentical(two)
        let a = try tensors(one.appendingPathComponent("teacher.safetensors").path, group: "params")
        let b = try tensors(two.appendingPathComponent("teacher.safetensors").path, group: "params")
        // Only the summation order of the gradient differs.
        assertClose(a, b, relative: 1e-4, "teacher parameters, 1 vs 2 ranks")
        XCTAssertTrue(FileManager.default.fileExists(atPath: two.appendingPathComponent("metrics.jsonl").path))
    }

    /// Shards above 4,096 samples go through in chunks (TeacherTrainer.chunk): a global batch of
    /// 10,000 is three chunks on one rank and two of 5,000 on each of two ranks under mpirun.
    /// Both runs agree to summation order and both ranks end identical.
    func testChunkedTeacherShardsOnTwoRanks() throws {
        let args = ["train-teacher", "--data", "mixture", "--hidden", "16", "--steps", "4", "--batch", "10000", "--log-every", "2"]
        let one = try MPIRun.tempDir("tc1"), two = try MPIRun.tempDir("tc2")
        let r1 = try emd(ranks: 1, args + ["--out", one.path])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r2 = try emd(ranks: 2, args + ["--out", two.path])
        XCTAssertEqual(r2.status, 0, r2.output)
        try ranksIdentical(two)
        let a = try tensors(one.appendingPathComponent("teacher.safetensors").path, group: "params")
        let b = try tensors(two.appendingPathComponent("teacher.safetensors").path, group: "params")
        assertClose(a, b, relative: 1e-4, "teacher parameters, chunked shards, 1 vs 2 ranks")
        // Not vacuous: the chunked steps move the parameters (two steps fewer end elsewhere).
        let short = try MPIRun.tempDir("tc0")
        var shortArgs = args
        shortArgs[shortArgs.firstIndex(of: "--steps")! + 1] = "2"
        let r0 = try emd(ranks: 1, shortArgs + ["--out", short.path])
        XCTAssertEqual(r0.status, 0, r0.output)
        let c = try tensors(short.appendingPathComponent("teacher.safetensors").path, group: "params")
        XCTAssertEqual(a.count, c.count)
        XCTAssertGreaterThan(zip(a, c).map { abs($0 - $1) }.max() ?? 0, 1e-4, "4 chunked steps changed nothing after 2")
    }

    /// A one-rank job started without a launcher runs without MPI (`SingleProcessCollectives`);
    /// forced through an MPI singleton (`EMD_MPI=1`) and under `mpirun -np 1` it computes the
    /// same: generator, student and optimiser state bit for bit, with the sharded optimiser too.
    func testOneRankWithoutMPIMatchesMPIBitForBit() throws {
        let teacher = try Self.sharedTeacher()
        let args = ["distill", "--teacher", "mixture", "--init", teacher.appendingPathComponent("teacher.safetensors").path,
                    "--steps", "6", "--batch", "32", "--langevin-steps", "2", "--student-steps", "2", "--eval-samples", "0",
                    "--optimizer-sharding"]
        var states: [[String: [Float]]] = []
        for how in ["plain", "singleton", "mpirun"] {
            let out = try MPIRun.tempDir("how-\(how)")
            let r = how == "mpirun" ? try MPIRun.run(ranks: 1, "emd", args + ["--out", out.path])
                : try MPIRun.runSingle("emd", args + ["--out", out.path], environment: how == "singleton" ? ["EMD_MPI": "1"] : [:])
            XCTAssertEqual(r.status, 0, r.output)
            let c = try Checkpoint.read(out.appendingPathComponent("ckpt-00000006.safetensors").path)
            states.append(c.tensors.mapValues { $0.values })
        }
        XCTAssertGreaterThan(states[0].count, 4)
        XCTAssertEqual(states[0], states[1], "no MPI vs MPI singleton")
        XCTAssertEqual(states[0], states[2], "no MPI vs mpirun -np 1")
        XCTAssertTrue(launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(launchedByMPI(["PMIX_RANK": "0"]))
        XCTAssertTrue(launchedByMPI(["PMI_RANK": "3"]))
        XCTAssertFalse(launchedByMPI(["PMIX_RANK": "0", "EMD_MPI": "0"]))
        XCTAssertTrue(launchedByMPI(["EMD_MPI": "1"]))
        XCTAssertFalse(launchedByMPI(["SLURM_PROCID": "0", "HOME": "/root"]))
    }

    /// 1-rank and 2-rank distillation (EMD, K = 4) of the same global batch of latents agree;
    /// 3 oversubscribed ranks too; every rank ends with identical generator and student.
    func testDistillationRankCountInvariance() throws {
        let teacher = try Self.sharedTeacher()
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        let args = ["distill", "--teacher", "mixture", "--init", initPath, "--steps", "12", "--batch", "48",
                    "--langevin-steps", "4", "--student-steps", "2", "--log-every", "4", "--eval-samples", "0"]
        var finals: [[Float]] = []
        for ranks in [1, 2, 3] {
            let out = try MPIRun.tempDir("d\(ranks)")
            let r = try emd(ranks: ranks, args + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            try ranksIdentical(out)
            finals.append(try tensors(out.appendingPathComponent("generator.safetensors").path, group: "generator"))
        }
        assertClose(finals[0], finals[1], relative: 1e-4, "generator, 1 vs 2 ranks")
        assertClose(finals[0], finals[2], relative: 1e-4, "generator, 1 vs 3 ranks")
    }

    /// The student trained on the distillation range, a range wide enough for the z-step
    /// cap to bind (h_z = 0.005 (sigma/sigma_data)^2 reaches 0.32 at 8 sigma_data, capped at
    /// 0.05), and the generator's learning rate annealed over the run: 1 and 2 ranks still
    /// agree, every rank identical.
    func testDistillationRankCountInvarianceWithStudentOnTheRangeCappedZStepAndAnnealedLR() throws {
        let teacher = try Self.sharedTeacher()
        let initPath = teacher.appendingPathComponent("teacher.safetensors").path
        let args = ["distill", "--teacher", "mixture", "--init", initPath, "--steps", "12", "--batch", "48",
                    "--langevin-steps", "4", "--student-steps", "2", "--log-every", "4", "--eval-samples", "0",
                    "--sigma-hi", "8", "--z-step-max", "0.05", "--student-noise", "distillationRange",
                    "--generator-lr-decay-steps", "12"]
        var finals: [[Float]] = []
        for ranks in [1, 2] {
            let out = try MPIRun.tempDir("dr\(ranks)")
            let r = try emd(ranks: ranks, args + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertTrue(r.output.contains("0.05), student sigma' log-uniform on the range"), r.output)
            XCTAssertTrue(r.output.contains("cosine to 0 over 12 updates"), r.output)
            try ranksIdentical(out)
            finals.append(try tensors(out.appendingPathComponent("generator.safetensors").path, group: "generator"))
        }
        assertClose(finals[0], finals[1], relative: 1e-4, "generator, 1 vs 2 ranks")
    }

    static let preemptTeacher = ["train-teacher", "--data", "mixture", "--hidden", "64", "--batch", "64", "--log-every", "10",
                                 "--checkpoint-every", "100000"]

    /// The three gradient all-reduce modes on 2 ranks: "overlap" (non-blocking, interleaved with
    /// the next update's draws and samples) is bit-identical to "separate"; "fused" (generator
    /// and first student update in one buffer, the student one generator update behind) gives
    /// different but close parameters; every rank ends identical in each mode.
    func testAllreduceModesOnTwoRanks() throws {
        let teacher = try Self.sharedTeacher()
        var finals: [String: [Float]] = [:]
        for mode in ["separate", "overlap", "fused", "bucketed"] {
            let out = try MPIRun.tempDir("ar-\(mode)")
            // Small buckets: several non-blocking reductions per student update.
            let r = try emd(ranks: 2, Self.distillArgs(teacher, steps: 40) + ["--allreduce", mode, "--bucket-floats", "300", "--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            try ranksIdentical(out)
            let path = out.appendingPathComponent("generator.safetensors").path
            finals[mode] = try tensors(path, group: "generator") + tensors(path, group: "student")
        }
        XCTAssertEqual(finals["separate"], finals["overlap"], "overlap must not change the arithmetic")
        XCTAssertEqual(finals["separate"], finals["bucketed"], "buckets must not change the arithmetic")
        XCTAssertNotEqual(finals["separate"], finals["fused"], "fused changes the schedule; identical results mean it did not run")
        assertClose(finals["separate"]!, finals["fused"]!, relative: 0.02, "fused vs separate after 40 steps")
    }

    /// `--optimizer-sharding` (ZeRO stage 1) on 2 ranks: teacher training and distillation (with
    /// gradient clipping active) write the same tensors as the replicated optimiser, bit for bit
    /// (parameters, EMA and Adam moments, gathered whole); a sharded checkpoint resumes bit for
    /// bit unsharded on 2 ranks, and sharded on 3 up to summation order.
    func testOptimizerShardingOnTwoRanks() throws {
        let groups = ["params", "ema", "adam_m", "adam_v"]
        var teachers: [[Float]] = []
        for flags in [[], ["--optimizer-sharding"]] {
            let out = try MPIRun.tempDir("zero-t")
            let r = try emd(ranks: 2, Self.teacherArgs + flags + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            try ranksIdentical(out)
            let path = out.appendingPathComponent("teacher.safetensors").path
            teachers.append(try groups.flatMap { try tensors(path, group: $0) })
        }
        XCTAssertEqual(teachers[0], teachers[1], "teacher state, sharded vs replicated")

        let teacher = try Self.sharedTeacher()
        let base = Self.distillArgs(teacher, steps: 40) + ["--grad-clip", "0.3", "--checkpoint-every", "20"]
        let distillGroups = ["generator", "generator_ema", "generator_adam_m", "generator_adam_v", "student", "student_adam_m",
                             "student_adam_v"]
        var finals: [[Float]] = [], folders: [URL] = []
        for flags in [[], ["--optimizer-sharding"]] {
            let out = try MPIRun.tempDir("zero-d")
            let r = try emd(ranks: 2, base + flags + ["--out", out.path])
            XCTAssertEqual(r.status, 0, r.output)
            try ranksIdentical(out)
            let path = out.appendingPathComponent("generator.safetensors").path
            finals.append(try distillGroups.flatMap { try tensors(path, group: $0) })
            folders.append(out)
        }
        XCTAssertEqual(finals[0], finals[1], "distillation state, sharded vs replicated")
        let replicatedGenerator = try tensors(folders[0].appendingPathComponent("generator.safetensors").path, group: "generator")
        for (ranks, flags, exact) in [(2, [String](), true), (3, ["--optimizer-sharding"], false)] {
            let out = try MPIRun.tempDir("zero-resume")
            try FileManager.default.copyItem(at: folders[1].appendingPathComponent("ckpt-00000020.safetensors"),
                                             to: out.appendingPathComponent("ckpt-00000020.safetensors"))
            let r = try emd(ranks: ranks, base + flags + ["--out", out.path, "--resume"])
            XCTAssertEqual(r.status, 0, r.output)
            XCTAssertTrue(r.output.contains("at step 20"), r.output)
            let g = try tensors(out.appendingPathComponent("generator.safetensors").path, group: "generator")
            if exact { XCTAssertEqual(g, replicatedGenerator, "sharded checkpoint resumed replicated on 2 ranks") }
            else { assertClose(replicatedGenerator, g, relative: 1e-4, "sharded checkpoint resumed sharded on 3 ranks") }
        }
    }

    /// Sixteen ranks (oversubscribed on any machine of this suite), optimiser sharded: every
    /// rank ends identical and the result is the 1-rank one up to summation order.
    func testSixteenRanksShardedMatchOneRank() throws {
        let teacher = try Self.sharedTeacher()
        let base = Self.distillArgs(teacher, steps: 20)
        let one = try MPIRun.tempDir("r1"), sixteen = try MPIRun.tempDir("r16")
        let r1 = try emd(ranks: 1, base + ["--out", one.path])
        XCTAssertEqual(r1.status, 0, r1.output)
        let r16 = try emd(ranks: 16, base + ["--optimizer-sharding", "--out", sixteen.path])
        XCTAssertEqual(r16.status, 0, r16.output)
        try ranksIdentical(sixteen)
        let a = try tensors(one.appendingPathComponent("generator.safetensors").path, group: "generator")
        let b = try tensors(sixteen.appendingPathComponent("generator.safetensors").path, group: "generator")
        assertClose(a, b, relative: 1e-4, "16 ranks sharded vs 1 rank")
        XCTAssertNotEqual(a, b, "16 ranks sum in another order; identical results would mean they did not run")
    }

    /// `bench-distill --split-imbalance` on 2 ranks reports the wait at the barrier apart from
    /// the reduction; without the flag that wait stays inside the all-reduce time.
    func testBenchDistillSplitsImbalanceFromReduction() throws {
        var breakdowns: [[String: Double]] = []
        for split in [true, false] {
            let out = try MPIRun.tempDir("bench-split")
            let json = out.appendingPathComponent("bench.json").path
            let r = try emd(ranks: 2, ["bench-distill", "--networks", "mixture", "--ks", "1", "--steps", "3", "--json", json]
                                + (split ? ["--split-imbalance"] : []))
            XCTAssertEqual(r.status, 0, r.output)
            let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            let row = try XCTUnwrap((root?["rows"] as? [[String: Any]])?.first, "bench.json: \(String(describing: root))")
            let breakdown = try XCTUnwrap(row["breakdown_ms"] as? [String: Double])
            XCTAssertEqual(row["imbalance_share"] != nil, split, "\(row)")
            XCTAssertGreaterThan(breakdown["allreduce"] ?? 0, 0, "\(breakdown)")
            breakdowns.append(breakdown)
        }
        XCTAssertGreaterThan(breakdowns[0]["imbalance"] ?? 0, 0, "a barrier takes time: \(breakdowns[0])")
        XCTAssertEqual(breakdowns[1]["imbalance"], 0, "no barrier without the flag: \(breakdowns[1])")
    }

    /// The benchmarks on one rank started without a launcher (no MPI): both write their JSON,
    /// with one rank, measured rates and no all-reduce rows.
    func testBenchmarksOnOneRankWithoutMPI() throws {
        let dir = try MPIRun.tempDir("bench-one")
        let a = dir.appendingPathComponent("bench.json").path, b = dir.appendingPathComponent("distill.json").path
        let r1 = try emd(ranks: 1, ["bench", "--repeats", "1", "--batch", "8", "--unet", "4,8,2", "--conv-scratch", "4096", "--json", a])
        XCTAssertEqual(r1.status, 0, r1.output)
        let bench = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a))) as? [String: Any])
        XCTAssertEqual(bench["ranks"] as? Int, 1)
        XCTAssertGreaterThan(bench["unet_utilization"] as? Double ?? 0, 0, "\(bench)")
        XCTAssertNil(bench["allreduce"])
        let r2 = try emd(ranks: 1, ["bench-distill", "--steps", "1", "--batch", "8", "--ks", "1", "--networks", "mixture", "--json", b])
        XCTAssertEqual(r2.status, 0, r2.output)
        let distill = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: b))) as? [String: Any]
        let row = try XCTUnwrap((distill?["rows"] as? [[String: Any]])?.first, "\(String(describing: distill))")
        XCTAssertEqual(row["ranks"] as? Int, 1)
        XCTAssertGreaterThan(row["seconds_per_step"] as? Double ?? 0, 0, "\(row)")
    }

    /// SIGUSR1 to mpirun (which forwards it to every rank; Slurm's --signal sends it) preempts
    /// a 2-rank run: all ranks agree, checkpoint and exit with the requeue code 75; the resumed
    /// run, on 1 rank, ends where an uninterrupted run of the same length ends. The run is
    /// endless until signalled, and the reference is trained afterwards to the step the
    /// preempted run reached plus 20, so the signal cannot miss.
    func testPreemptionUnderMpirunCheckpointsAndResumes() throws {
        let base = Self.preemptTeacher
        let cut = try MPIRun.tempDir("cut")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "-np", "2", "--oversubscribe", try MPIRun.executable("emd")] + base + ["--steps", "1000000", "--out", cut.path]
        var env = MPIRun.cleanEnvironment()
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        // Wait until training has started (the metrics file has a line), then preempt.
        let metrics = cut.appendingPathComponent("metrics.jsonl").path
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? Data(contentsOf: URL(fileURLWithPath: metrics)))?.isEmpty ?? true {
            Thread.sleep(forTimeInterval: 0.05)
        }
        kill(p.processIdentifier, SIGUSR1)
        p.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 75, "preempted run should exit 75:\n\(output)")
        guard let saved = CheckpointDirectory(path: cut.path).checkpoints().last?.step else {
            return XCTFail("no checkpoint after preemption:\n\(output)")
        }
        try resumeAndCompare(base, cut: cut, total: saved + 20, resumeRanks: 1, uninterruptedRanks: 1, exact: false,
                             file: "teacher.safetensors", group: "params")
    }

    /// A preemption signal raised in a single-rank process at a known step (the fault hook
    /// EMD_FAULT_PREEMPT raises SIGTERM there, as srun and schedulers send it to tasks): the
    /// handler sees it, the run checkpoints at that step and exits 75; resumed on 2 ranks.
    func testSigtermPreemptsSingleRank() throws {
        try preemptAndResume(Self.preemptTeacher + ["--steps", "60"], ranks: 1, fault: "0:30", savedStep: 31, resumeRanks: 2,
                             file: "teacher.safetensors", group: "params")
    }

    /// A short distillation. Its noise levels are pinned to the absolute ones the tolerances
    /// below were measured with (rounding differences grow chaotically over a run, at a rate that
    /// depends on the settings; 2026-12-02 the relative defaults gave 1.7e-4 after 120 steps where
    /// these give under 1e-4).
    static func distillArgs(_ teacher: URL, steps: Int) -> [String] {
        ["distill", "--teacher", "mixture", "--init", teacher.appendingPathComponent("teacher.safetensors").path,
         "--steps", "\(steps)", "--batch", "48", "--langevin-steps", "4", "--student-steps", "2",
         "--log-every", "50", "--checkpoint-every", "100000", "--eval-samples", "0",
         "--noise-units", "absolute", "--sigma-lo", "0.05", "--sigma-hi", "2", "--sigma-init", "2.5", "--gamma-z", "0.003"]
    }

    /// A distillation under mpirun on 2 ranks where one rank receives SIGTERM at step 20 (the
    /// fault hook raises it there): the ranks agree in that step's all-reduce, checkpoint
    /// generator, student and both optimisers, and exit 75; resumed on 2 ranks the run ends
    /// bit-identical to an uninterrupted one.
    func testDistillationSigtermUnderMpirunResumesExactly() throws {
        let teacher = try Self.sharedTeacher()
        try preemptAndResume(Self.distillArgs(teacher, steps: 40), ranks: 2, fault: "1:20", savedStep: 21,
                             resumeRanks: 2, uninterruptedRanks: 2, exact: true, file: "generator.safetensors", group: "generator")
    }

    /// A distillation checkpoint written by 2 ranks resumes on 3 and on 1: the global batch, the
    /// chains and every draw are keyed by global index, so only the summation order differs
    /// from an uninterrupted 1-rank run.
    func testDistillationCheckpointResumesOnOtherRankCounts() throws {
        let teacher = try Self.sharedTeacher()
        let full = try MPIRun.tempDir("rc-full")
        let rf = try emd(ranks: 1, Self.distillArgs(teacher, steps: 120) + ["--out", full.path])
        XCTAssertEqual(rf.status, 0, rf.output)
        let reference = try tensors(full.appendingPathComponent("generator.safetensors").path, group: "generator")
        for resumeRanks in [3, 1] {
            let out = try MPIRun.tempDir("rc-\(resumeRanks)")
            let first = try emd(ranks: 2, Self.distillArgs(teacher, steps: 60) + ["--out", out.path])
            XCTAssertEqual(first.status, 0, first.output)
            let second = try emd(ranks: resumeRanks, Self.distillArgs(teacher, steps: 120) + ["--out", out.path, "--resume"])
            XCTAssertEqual(second.status, 0, second.output)
            XCTAssertTrue(second.output.contains("resumed from") && second.output.contains("at step 60"), second.output)
            let b = try tensors(out.appendingPathComponent("generator.safetensors").path, group: "generator")
            assertClose(reference, b, relative: 1e-4, "2 ranks then \(resumeRanks) vs 1 rank throughout")
        }
    }

    /// Run `base` on `ranks` ranks with the preemption fault at `fault` (RANK:STEP), expect exit
    /// 75 and a checkpoint at `savedStep`, then resume and compare (`resumeAndCompare`).
    func preemptAndResume(_ base: [String], ranks: Int, fault: String, savedStep: Int, resumeRanks: Int,
                          uninterruptedRanks: Int = 1, exact: Bool = false, file: String, group: String) throws {
        let cut = try MPIRun.tempDir("cut")
        let r = try ranks == 1 ? MPIRun.runSingle("emd", base + ["--out", cut.path], environment: ["EMD_FAULT_PREEMPT": fault])
            : MPIRun.run(ranks: ranks, "emd", base + ["--out", cut.path], timeout: 300, environment: ["EMD_FAULT_PREEMPT": fault])
        XCTAssertEqual(r.status, 75, "preempted run should exit 75:\n\(r.output)")
        XCTAssertEqual(CheckpointDirectory(path: cut.path).checkpoints().map(\.step), [savedStep], r.output)
        // The marker a batch script requeues on, whatever status the launcher reports.
        let marker = cut.appendingPathComponent("preempted.json").path
        XCTAssertTrue((try? String(contentsOfFile: marker, encoding: .utf8))?.contains("\"step\": \(savedStep)") ?? false, r.output)
        let total = Int(base[base.lastIndex(of: "--steps")! + 1])!
        try resumeAndCompare(base, cut: cut, total: total, resumeRanks: resumeRanks, uninterruptedRanks: uninterruptedRanks,
                             exact: exact, file: file, group: group)
    }

    /// Resume the preempted run in `cut` to `total` steps on `resumeRanks` ranks, train the same
    /// run uninterrupted on `uninterruptedRanks`, and compare the final `group` tensors: bit for
    /// bit with `exact`, else up to summation-order differences.
    func resumeAndCompare(_ base: [String], cut: URL, total: Int, resumeRanks: Int, uninterruptedRanks: Int, exact: Bool,
                          file: String, group: String) throws {
        let args = base + ["--steps", "\(total)"]
        let rr = try emd(ranks: resumeRanks, args + ["--out", cut.path, "--resume"])
        XCTAssertEqual(rr.status, 0, rr.output)
        XCTAssertTrue(rr.output.contains("resumed from"), rr.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cut.appendingPathComponent("preempted.json").path),
                       "the resumed run clears the preemption marker")
        let full = try MPIRun.tempDir("full")
        let rf = try emd(ranks: uninterruptedRanks, args + ["--out", full.path])
        XCTAssertEqual(rf.status, 0, rf.output)
        let a = try tensors(full.appendingPathComponent(file).path, group: group)
        let b = try tensors(cut.appendingPathComponent(file).path, group: group)
        if exact { XCTAssertEqual(a, b, "preempted + resumed vs uninterrupted, same rank count: not bit-identical") }
        assertClose(a, b, relative: 1e-3, "preempted + resumed vs uninterrupted")
    }
}
