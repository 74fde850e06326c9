import Foundation
import XCTest

/// Launches project executables under `mpirun` from inside the test process (MPI can be
/// initialised only once per process, so multi-rank tests run separate programs).
struct MissingExecutable: Error, CustomStringConvertible {
    let path: String
    var description: String { "missing executable \(path): build all products first (launch/test.sh does)" }
}

enum MPIRun {
    /// Folder of the built executables: $EMD_BIN_DIR, or the folder holding the test bundle.
    static var binDir: URL {
        if let d = ProcessInfo.processInfo.environment["EMD_BIN_DIR"] { return URL(fileURLWithPath: d) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    static func executable(_ name: String) throws -> String {
        let path = binDir.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingExecutable(path: path)
        }
        return path
    }

    struct Result {
        var status: Int32
        var output: String
        var timedOut: Bool
    }

    /// Run `program args` on `ranks` ranks; kill it after `timeout` seconds.
    static func run(ranks: Int, _ program: String, _ args: [String], timeout: TimeInterval = 300,
                    environment: [String: String] = [:]) throws -> Result {
        var argv = ["-np", "\(ranks)"]
        if ranks > ProcessInfo.processInfo.activeProcessorCount { argv.append("--oversubscribe") }
        argv += ["--mca", "btl", "self,vader,tcp", try executable(program)] + args
        return try runProcess("/usr/bin/env", ["mpirun"] + argv, timeout: timeout, environment: environment)
    }

    /// Run a program directly (a single rank, MPI singleton).
    static func runSingle(_ program: String, _ args: [String], timeout: TimeInterval = 300,
                          environment: [String: String] = [:]) throws -> Result {
        try runProcess(try executable(program), args, timeout: timeout, environment: environment)
    }

    /// This process's environment without what an in-process MPI (the unit tests initialise
    /// a singleton) exported for its own job: an mpirun started with those variables believes
    /// it runs inside that job and fails.
    static func cleanEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { k, _ in
            !(k.hasPrefix("OMPI_") || k.hasPrefix("PMIX_") || k.hasPrefix("OPAL_") || k.hasPrefix("ORTE_")) || k.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
        }
    }

    /// Run `path args` with output captured, waiting at most `timeout` seconds. The child is
    /// started with posix_spawn and reaped with waitpid here, not through Foundation's Process,
    /// whose exit detection (a SIGCHLD source) stops working once an in-process MPI has
    /// installed its own SIGCHLD handling: a finished child then stays a zombie and the test hangs.
    static func runProcess(_ path: String, _ args: [String], timeout: TimeInterval,
                           environment: [String: String]) throws -> Result {
        var env = cleanEnvironment()
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        for (k, v) in environment { env[k] = v }
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("emd-mpirun-\(UUID().uuidString).log").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard rc == 0 else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(rc), userInfo: [NSFilePathErrorKey: path]) }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false, status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { break }
            if !timedOut, Date() > deadline {
                timedOut = true
                kill(pid, SIGTERM)
                Thread.sleep(forTimeInterval: 5)
                kill(pid, SIGKILL)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        // Exit code, or 128 + the signal, as a shell reports it.
        let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(status: code, output: output, timedOut: timedOut)
    }

    static func tempDir(_ tag: String) throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("emd-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}
