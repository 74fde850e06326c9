import Foundation
import XCTest
import Diffusion
import FileFormats

/// `emd sample` and `emd eval` validate every size before use (the release build has no
/// overflow checks: these command lines crashed it or ran for minutes before), refuse inputs
/// that are not regular files, refuse non-finite samples, and stop promptly on SIGINT/SIGTERM.
final class InputValidationTests: XCTestCase {
    /// A tiny teacher checkpoint trained by the emd binary (a few steps on the ring mixture).
    func teacher(_ dir: URL, steps: Int = 5) throws -> String {
        let r = try MPIRun.runSingle("emd", ["train-teacher", "--data", "mixture", "--steps", "\(steps)", "--hidden", "16",
                                             "--out", dir.appendingPathComponent("t").path], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        return dir.appendingPathComponent("t/teacher.safetensors").path
    }

    func emd(_ args: [String], timeout: TimeInterval = 60, env: [String: String] = [:]) throws -> MPIRun.Result {
        let r = try MPIRun.runSingle("emd", args, timeout: timeout, environment: env)
        XCTAssertFalse(r.timedOut, "emd \(args) timed out: \(r.output)")
        return r
    }

    func assertRefused(_ args: [String], _ fragments: [String], env: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try emd(args, env: env)
        XCTAssertTrue(r.status == 64 || r.status == 2, "emd \(args): status \(r.status): \(r.output)", file: file, line: line)
        for f in fragments {
            XCTAssertTrue(r.output.contains(f), "emd \(args): '\(f)' not in: \(r.output)", file: file, line: line)
        }
    }

    /// The GEMM engine: an unknown `EMD_GEMM` is refused with the choices; a run records the
    /// engine it used beside the BLAS kernel in ranks.json.
    func testGEMMEngineComesFromTheEnvironmentAndIsRecorded() throws {
        let dir = try MPIRun.tempDir("gemm-engine")
        let args = ["distill", "--teacher", "mixture", "--steps", "2", "--init-steps", "10", "--batch", "16", "--eval-samples", "0"]
        try assertRefused(args + ["--out", dir.appendingPathComponent("x").path], ["EMD_GEMM=cuda", "openblas", "onednn"],
                          env: ["EMD_GEMM": "cuda"])
        for engine in ["openblas", "onednn"] {
            let out = dir.appendingPathComponent(engine)
            let r = try emd(args + ["--out", out.path], env: ["EMD_GEMM": engine])
            XCTAssertEqual(r.status, 0, r.output)
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("ranks.json"))) as? [String: Any]
            XCTAssertEqual(report?["gemm_engine"] as? String, engine)
        }
    }

    /// The convolution backend: an unknown `EMD_CONV` is refused with the choices; `emd bench
    /// --conv` times one layer with each backend (oneDNN naming its kernel), whatever the default.
    func testConvolutionBackendAndItsBenchmark() throws {
        try assertRefused(["bench", "--conv", "2,3,8,2", "--repeats", "1"], ["EMD_CONV=gpu", "im2col", "onednn"],
                          env: ["EMD_CONV": "gpu"])
        try assertRefused(["bench", "--conv", "2,3", "--repeats", "1"], ["--conv needs IN,OUT,SIDE,BATCH"])
        try assertRefused(["bench", "--conv", "2,3,8,2,5", "--repeats", "1"], ["kernel 1 or 3"])
        let json = try MPIRun.tempDir("conv-bench").appendingPathComponent("bench.json").path
        let r = try emd(["bench", "--conv", "2,3,8,2", "--conv", "4,4,8,3,3,2", "--repeats", "1", "--json", json],
                        env: ["EMD_CONV": "im2col"])
        XCTAssertEqual(r.status, 0, r.output)
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let rows = result?["conv"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.map { $0["backend"] as? String }, ["im2col", "onednn", "im2col", "onednn"], "\(rows)")
        XCTAssertEqual(rows.map { $0["stride"] as? Int }, [1, 1, 2, 2])
        for row in rows { XCTAssertGreaterThan(row["seconds"] as? Double ?? 0, 0, "\(row)") }
        XCTAssertFalse((rows[1]["implementation"] as? String ?? "").isEmpty, "\(rows[1])")
        XCTAssertNil(result?["mlp"], "--conv measures only the layers")
    }

    func testCountsStepsAndSeedsAreBounded() throws {
        let dir = try MPIRun.tempDir("limits")
        let t = try teacher(dir)
        let out = dir.appendingPathComponent("s.npy").path
        try assertRefused(["eval", "--checkpoint", t, "--count=-5"], ["--count -5", "1...2147483647"])
        try assertRefused(["eval", "--checkpoint", t, "--count", "0"], ["--count 0"])
        try assertRefused(["eval", "--checkpoint", t, "--steps=-3"], ["--steps -3", "1...100000"])
        try assertRefused(["eval", "--checkpoint", t, "--steps", "0"], ["--steps 0"])
        try assertRefused(["sample", "--checkpoint", t, "--count", "4611686018427387904", "--out", out],
                          ["--count 4611686018427387904"])
        try assertRefused(["sample", "--checkpoint", t, "--steps", "2147483648", "--out", out], ["--steps 2147483648"])
        try assertRefused(["sample", "--checkpoint", t, "--seed=-1", "--out", out], ["--seed -1"])
        // Within the bounds but beyond memory: refused up front, naming both sizes.
        try assertRefused(["sample", "--checkpoint", t, "--count", "200000000", "--out", out],
                          ["200000000 samples of dimension 2", "more than the 64.0 MiB"], env: ["EMD_MEMORY_LIMIT_MB": "64"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // An empty samples file scores nothing: refused.
        let empty = dir.appendingPathComponent("empty.npy").path
        try NPY.write(path: empty, shape: [0, 2], values: [])
        try assertRefused(["eval", "--samples", empty], [empty, "holds no samples"])
    }

    func testNonRegularInputsAreRefusedWithoutBlocking() throws {
        let dir = try MPIRun.tempDir("fifo")
        let t = try teacher(dir)
        let fifo = dir.appendingPathComponent("in.fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let out = dir.appendingPathComponent("s.npy").path
        try assertRefused(["sample", "--checkpoint", fifo, "--out", out], [fifo, "not a regular file"])
        try assertRefused(["eval", "--samples", fifo], [fifo, "not a regular file"])
        try assertRefused(["eval", "--checkpoint", t, "--count", "10", "--mixture", fifo], [fifo, "not a regular file"])
        try assertRefused(["sample", "--checkpoint", t, "--count", "10", "--out", out, "--png", out + ".png", "--mixture", fifo],
                          [fifo, "not a regular file"])
        try assertRefused(["eval", "--samples", dir.path], [dir.path, "directory"])
    }

    /// Outputs that exist and are not regular files are refused and left alone (a rename over
    /// them, as root over /dev/null, destroyed them).
    func testNonRegularOutputsAreNotReplaced() throws {
        let dir = try MPIRun.tempDir("outfifo")
        let fifo = dir.appendingPathComponent("out.fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let samples = dir.appendingPathComponent("s.npy").path
        try NPY.write(path: samples, shape: [4, 2], values: [0, 1, 1, 0, -1, 0, 0, -1])
        try assertRefused(["eval", "--samples", samples, "--json", fifo], [fifo, "not a regular file"])
        try assertRefused(["eval", "--samples", samples, "--png", fifo], [fifo, "not a regular file"])
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO, "the FIFO was replaced")
    }

    func testNonFiniteSamplesAreRefused() throws {
        let dir = try MPIRun.tempDir("nan")
        // eval: two of three samples hold NaN or infinity.
        let bad = dir.appendingPathComponent("bad.npy").path
        try NPY.write(path: bad, shape: [3, 2], values: [0, 1, .nan, 0, 1, .infinity])
        try assertRefused(["eval", "--samples", bad], [bad, "2 of 3 samples contain NaN or infinity", "sample 2"])
        // sample: a teacher whose (finite) weights are huge overflows to NaN samples; nothing is written.
        let t = try teacher(dir)
        let f = try SafeTensorsFile(path: t)
        var poisoned: [SafeTensorsEntry] = []
        for name in f.names {
            let e = f.tensors[name]!
            poisoned.append(try SafeTensorsEntry(name: name, shape: e.shape, floats: try e.floats().map { _ in Float.greatestFiniteMagnitude }))
        }
        let nanTeacher = dir.appendingPathComponent("nan.safetensors").path
        try SafeTensorsFile(tensors: poisoned, metadata: f.metadata).write(to: nanTeacher)
        let out = dir.appendingPathComponent("s.npy").path
        try assertRefused(["sample", "--checkpoint", nanTeacher, "--count", "5", "--steps", "2", "--out", out],
                          ["5 of 5 samples contain NaN or infinity", "nothing written"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        try assertRefused(["eval", "--checkpoint", nanTeacher, "--count", "5", "--steps", "2"], ["refusing to score"])
    }

    /// SIGINT ends a long sampling run with 130, SIGTERM with 75, within seconds, writing nothing.
    /// Spawn `emd args` with its output in `log`; returns the pid.
    func spawn(_ args: [String], log: String) -> pid_t {
        let path = (try? MPIRun.executable("emd")) ?? "emd"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&pid, path, &actions, nil, argv, environ), 0)
        return pid
    }

    /// The exit status of `pid`, which must end within `limit` seconds (else it is killed).
    func exitStatus(_ pid: pid_t, within limit: TimeInterval, _ what: String) -> Int32 {
        let start = Date()
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date().timeIntervalSince(start) > limit { kill(pid, SIGKILL); XCTFail("\(what): no exit within \(limit) s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    func testStopSignalsEndLongSampling() throws {
        let dir = try MPIRun.tempDir("stop")
        let t = try teacher(dir)
        // Both runs at once, each signalled two seconds into a sampling run of minutes.
        let runs = [(SIGINT, Int32(130)), (SIGTERM, Int32(75))].map { sig, code in
            let out = dir.appendingPathComponent("s\(sig).npy").path
            return (sig, code, out, spawn(["sample", "--checkpoint", t, "--count", "1000000", "--steps", "5000", "--out", out],
                                         log: dir.appendingPathComponent("s\(sig).log").path))
        }
        Thread.sleep(forTimeInterval: 2)
        for (sig, _, _, pid) in runs { kill(pid, sig) }
        for (sig, code, out, pid) in runs {
            XCTAssertEqual(exitStatus(pid, within: 20, "signal \(sig)"), code, "signal \(sig)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }

    /// Output paths, and eval's classifier, are checked before the work that needs them:
    /// sample and eval refused an unwritable --out, --png or --json only after sampling, eval
    /// read its classifier after sampling, demo wrote --json (and then its folder's demo.json)
    /// only after training, bench-mixtures blamed its runs' logs for a folder it could not make.
    /// Here each would take minutes; each is refused within seconds, naming the flag.
    func testOutputsAreCheckedBeforeTheWork() throws {
        let dir = try MPIRun.tempDir("outputs-first")
        let t = try teacher(dir)
        let blocked = dir.appendingPathComponent("a-file").path
        XCTAssertTrue(FileManager.default.createFile(atPath: blocked, contents: Data()))
        let unwritable = blocked + "/x"  // a path under a regular file: no folder can be made there
        let big = "5000000"
        for (args, fragment) in [(["sample", "--checkpoint", t, "--count", big, "--out", unwritable + ".npy"], "--out"),
                                 (["sample", "--checkpoint", t, "--count", big, "--out", dir.appendingPathComponent("s.npy").path,
                                   "--png", unwritable + ".png"], "--png"),
                                 (["eval", "--checkpoint", t, "--count", big, "--json", unwritable + ".json"], "--json"),
                                 (["eval", "--checkpoint", t, "--count", big, "--classifier", dir.appendingPathComponent("none").path],
                                  "none"),
                                 (["demo", "--out", dir.appendingPathComponent("demo").path, "--json", unwritable + ".json"], "--json"),
                                 (["bench-mixtures", "--out", unwritable], "--out: cannot create")] {
            let start = Date()
            let r = try emd(args, timeout: 60)
            XCTAssertNotEqual(r.status, 0, "\(args): \(r.output)")
            XCTAssertTrue(r.output.contains(fragment), "\(args): '\(fragment)' not in: \(r.output)")
            XCTAssertLessThan(Date().timeIntervalSince(start), 10, "\(args) worked before refusing: \(r.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.npy").path))
    }

    /// Every output file creates its folder, as the JSON outputs always did: sample's samples
    /// and grid, eval's grid and JSON, in folders that do not exist yet.
    func testOutputsCreateTheirFolders() throws {
        let dir = try MPIRun.tempDir("output-folders")
        let t = try teacher(dir)
        let samples = dir.appendingPathComponent("new/a/s.npy").path
        let grid = dir.appendingPathComponent("new/b/s.png").path
        var r = try emd(["sample", "--checkpoint", t, "--count", "50", "--steps", "2", "--out", samples, "--png", grid])
        XCTAssertEqual(r.status, 0, r.output)
        let evalPNG = dir.appendingPathComponent("new/c/e.png").path, evalJSON = dir.appendingPathComponent("new/d/e.json").path
        r = try emd(["eval", "--samples", samples, "--png", evalPNG, "--json", evalJSON])
        XCTAssertEqual(r.status, 0, r.output)
        for path in [samples, grid, evalPNG, evalJSON] {
            let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int ?? 0
            XCTAssertGreaterThan(size, 0, "\(path) not written: \(r.output)")
        }
    }

    /// --guidance where it would be ignored is refused: without --class, on a samples file, and
    /// on a one-step generator (its guidance was fixed when it was distilled).
    func testGuidanceWhereItCannotApplyIsRefused() throws {
        let dir = try MPIRun.tempDir("guidance-flags")
        let t = try teacher(dir)
        let gen = dir.appendingPathComponent("g").path
        let r = try emd(["distill", "--teacher", "mixture", "--steps", "2", "--init-steps", "10", "--batch", "16",
                         "--eval-samples", "0", "--out", gen], timeout: 120)
        XCTAssertEqual(r.status, 0, r.output)
        let samples = dir.appendingPathComponent("s.npy").path
        XCTAssertEqual(try emd(["sample", "--checkpoint", t, "--count", "20", "--steps", "2", "--out", samples]).status, 0)
        try assertRefused(["sample", "--checkpoint", t, "--guidance", "2", "--out", samples], ["--guidance needs --class"])
        try assertRefused(["eval", "--samples", samples, "--guidance", "2"], ["--guidance needs --checkpoint"])
        try assertRefused(["sample", "--checkpoint", gen + "/generator.safetensors", "--guidance", "2", "--out", samples],
                          ["--guidance applies to a teacher", "distilled with guidance w = 1"])
        // w = 1 (the default, spelled out) is the plain conditional or unconditional model: accepted.
        XCTAssertEqual(try emd(["sample", "--checkpoint", gen + "/generator.safetensors", "--guidance", "1", "--count", "20",
                                "--out", samples]).status, 0)
    }

    /// `emd denoiser-error` on a small teacher and a CSV sample set: one row per noise level,
    /// finite figures, the levels placed in the teacher's training law; bad levels, too many
    /// queries and guidance on an unconditional teacher are refused.
    func testDenoiserErrorCommand() throws {
        let dir = try MPIRun.tempDir("denoiser-error")
        let t = try teacher(dir, steps: 30)
        let points = (0..<120).map { i -> String in
            let a = Double(i) * 2 * Double.pi / 8 + 0.05 * sin(Double(i) * 1.7)
            return String(format: "%.5f,%.5f", 2 * cos(a), 2 * sin(a))
        }
        let csv = dir.appendingPathComponent("ring.csv").path
        try Data((points.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: csv))
        let json = dir.appendingPathComponent("out/err.json").path
        let common = ["denoiser-error", "--checkpoint", t, "--reference", "csv:" + csv, "--queries", "csv:" + csv]
        let r = try emd(common + ["--count", "40", "--sigmas", "0.5,2,8", "--json", json])
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("| sigma/sigma_data |"), r.output)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        let rows = obj["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.map { $0["sigma_over_data"] as! Double }, [0.5, 2, 8])
        for row in rows {
            let sigma = row["sigma"] as! Double, z = row["z"] as! Double
            XCTAssertEqual(z, (log(sigma) + 1.2) / 1.2, accuracy: 1e-4)
            for key in ["error", "signal", "mse_ref", "mse_net", "ess"] {
                XCTAssertTrue((row[key] as! Double).isFinite, "\(key) in \(row)")
            }
        }
        // More noise: the exact answer averages over more of the samples.
        XCTAssertGreaterThan(rows[2]["ess"] as! Double, rows[0]["ess"] as! Double)
        // One query: its answers have no variance, and the ratios are written as null.
        let one = try emd(common + ["--count", "1", "--sigmas", "1", "--json", json])
        XCTAssertEqual(one.status, 0, one.output)
        let single = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        XCTAssertTrue((single["rows"] as! [[String: Any]])[0]["rel_error"] is NSNull)
        try assertRefused(common + ["--sigmas", "1,-2"], ["--sigmas"])
        try assertRefused(common + ["--count", "500"], ["--count 500", "120 samples"])
        try assertRefused(common + ["--count", "40", "--guidance", "2"], ["--guidance needs a class-conditional teacher"])
    }

    /// Benchmarks refuse what they cannot use before they measure anything: a malformed list
    /// flag, or a --json path that cannot be written (it used to fail after the measurements).
    func testBenchmarksRefuseBadArgumentsBeforeMeasuring() throws {
        let dir = try MPIRun.tempDir("bench-args")
        // A path under a regular file: no folder can be made there.
        let blocked = dir.appendingPathComponent("a-file").path
        XCTAssertTrue(FileManager.default.createFile(atPath: blocked, contents: Data()))
        let missing = blocked + "/b.json"
        for (args, fragment) in [(["bench", "--conv-scratch", ""], "--conv-scratch"),
                                 (["bench", "--unet", "3,30,8"], "--unet"),
                                 (["bench", "--json", missing], "--json"),
                                 (["bench", "--json", dir.path], "not a regular file"),
                                 (["bench-distill", "--networks", "mixture,0"], "--networks"),
                                 (["bench-distill", "--allreduce", ""], "--allreduce"),
                                 (["bench-distill", "--optimizer", "zero"], "--optimizer"),
                                 (["bench-distill", "--json", missing], "--json")] {
            let r = try emd(args)
            XCTAssertNotEqual(r.status, 0, "\(args): \(r.output)")
            XCTAssertTrue(r.output.contains(fragment), "\(args): '\(fragment)' not in: \(r.output)")
            XCTAssertFalse(r.output.contains("sgemm"), "\(args) measured before refusing: \(r.output)")
        }
    }

    /// Benchmarks have nothing to checkpoint: SIGTERM ends them at once by its default action.
    /// (The fuzzer found `bench` ignoring it: its start-up installed the training handlers again
    /// after restoring the defaults.)
    func testStopSignalEndsBenchmarks() throws {
        let dir = try MPIRun.tempDir("stop-bench")
        for args in [["bench", "--repeats", "100000"], ["bench-distill", "--steps", "100000", "--networks", "mixture", "--ks", "8"]] {
            let pid = spawn(args, log: dir.appendingPathComponent("\(args[0]).log").path)
            Thread.sleep(forTimeInterval: 1.5)
            kill(pid, SIGTERM)
            XCTAssertEqual(exitStatus(pid, within: 10, args[0]), 128 + SIGTERM, args[0])
        }
    }

    /// A stop signal during distill's final evaluation (here two million exact-teacher Heun
    /// samples) ends it promptly with exit 75; the generator stays written. The fuzzer found
    /// it running on for about 10 s after SIGTERM.
    func testStopSignalEndsTheFinalEvaluation() throws {
        let dir = try MPIRun.tempDir("stop-eval")
        let log = dir.appendingPathComponent("d.log").path, out = dir.appendingPathComponent("d").path
        let pid = spawn(["distill", "--teacher", "mixture", "--steps", "3", "--init-steps", "3", "--batch", "16",
                         "--eval-samples", "2000000", "--out", out], log: log)
        let start = Date()
        while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("generator written") ?? false),
              Date().timeIntervalSince(start) < 60 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: 0.3)
        kill(pid, SIGTERM)
        let signalled = Date()
        XCTAssertEqual(exitStatus(pid, within: 30, "distill"), 75)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 3, "the evaluation should stop within a chunk")
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("evaluation skipped"), text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/generator.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/eval-teacher.json"))
    }
}

/// Datasets are validated on load: finite values, a finite positive sigma_data, and a named
/// labels file must exist.
final class DatasetValidationTests: XCTestCase {
    func csv(_ text: String) throws -> String {
        let path = try MPIRun.tempDir("csv").appendingPathComponent("d.csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertRefused(_ spec: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ArrayDataset.load(spec), file: file, line: line) { e in
            for f in fragments { XCTAssertTrue("\(e)".contains(f), "'\(f)' not in: \(e)", file: file, line: line) }
        }
    }

    func testNonFiniteAndConstantDataAreRefused() throws {
        for (text, what) in [("1,2\n3,nan\n", "non-finite"), ("1,2\n3,inf\n", "non-finite"), ("1,2\n1e39,4\n", "non-finite"),
                             ("5,5\n5,5\n", "zero variance")] {
            let p = try csv(text)
            assertRefused("csv:" + p, [p, what])
        }
        let p = try csv("1,2\n3,nan\n")
        assertRefused("csv:" + p, ["sample 2, coordinate 2"])
        XCTAssertEqual(try ArrayDataset.load("csv:" + (try csv("1,2\n3,4\n"))).count, 2)
    }

    func testMissingLabelsFileIsAnError() throws {
        let dir = try MPIRun.tempDir("idx")
        let images = dir.appendingPathComponent("img.idx").path, missing = dir.appendingPathComponent("nope.idx").path
        try IDX.write(path: images, dims: [2, 2, 2], bytes: [0, 10, 20, 30, 40, 50, 60, 70])
        XCTAssertNil(try ArrayDataset.load("idx:" + images).labels)
        assertRefused("idx:\(images),\(missing)", [missing])
        let labels = dir.appendingPathComponent("lab.idx").path
        try IDX.write(path: labels, dims: [2], bytes: [1, 3])
        XCTAssertEqual(try ArrayDataset.load("idx:\(images),\(labels)").labels, [1, 3])
    }
}
