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

    static func runProcess(_ path: String, _ args: [String], timeout: TimeInterval,
                           environment: [String: String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("emd-mpirun-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: outURL)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline { timedOut = true; p.terminate(); break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.waitUntilExit()
        try? handle.close()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: outURL)
        return Result(status: p.terminationStatus, output: output, timedOut: timedOut)
    }

    static func tempDir(_ tag: String) throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("emd-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}
