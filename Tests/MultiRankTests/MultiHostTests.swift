import Foundation
import XCTest
import Training
import Diffusion

/// Two "hosts" made as Linux network namespaces joined by veth links (launch/netns-hosts.sh),
/// OpenMPI started across them through a launch agent, TCP only: a distillation over
/// 2 hosts x 1 rank ends with the same parameters as 2 ranks on one host.
final class MultiHostTests: XCTestCase {
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func script(_ args: [String], environment: [String: String] = [:], timeout: TimeInterval = 300) throws -> MPIRun.Result {
        let path = Self.repoRoot.appendingPathComponent("launch/netns-hosts.sh").path
        return try MPIRun.runProcess("/bin/bash", [path] + args, timeout: timeout, environment: environment)
    }

    func checkpointTensors(_ path: String) throws -> [String: [Float]] {
        let c = try Checkpoint.read(path)
        return c.tensors.mapValues { $0.values }
    }

    func testTwoNamespaceHostsOverTCPMatchOneHost() throws {
        guard getuid() == 0 else { throw XCTSkip("network namespaces need root") }
        let probe = try MPIRun.runProcess("/bin/sh", ["-c", "ip netns add emd-probe && ip netns del emd-probe"], timeout: 30, environment: [:])
        guard probe.status == 0 else { throw XCTSkip("ip netns unavailable here: \(probe.output)") }

        let up = try script(["up", "2"])
        XCTAssertEqual(up.status, 0, up.output)
        defer { _ = try? script(["down", "2"]) }

        let teacher = try TrainingRankTests.sharedTeacher()
        let args = ["distill", "--teacher", "mixture", "--init", teacher.appendingPathComponent("teacher.safetensors").path,
                    "--steps", "10", "--batch", "32", "--langevin-steps", "4", "--student-steps", "2",
                    "--log-every", "5", "--eval-samples", "0"]

        let hosts = try MPIRun.tempDir("mh-hosts")
        let rh = try script(["run", "2"] + args + ["--out", hosts.path],
                            environment: ["EMD_BIN": try MPIRun.executable("emd")], timeout: 240)
        XCTAssertFalse(rh.timedOut, "the 2-host run hung:\n\(rh.output)")
        XCTAssertEqual(rh.status, 0, rh.output)
        let local = try MPIRun.tempDir("mh-local")
        let rl = try MPIRun.run(ranks: 2, "emd", args + ["--out", local.path], timeout: 240)
        XCTAssertEqual(rl.status, 0, rl.output)

        // Each rank ran on its own host, and the ranks agree.
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: hosts.appendingPathComponent("ranks.json"))) as? [String: Any]
        XCTAssertEqual(report?["identical"] as? Bool, true, "\(String(describing: report))")
        XCTAssertEqual(report?["hosts"] as? [String], ["emd-host1", "emd-host2"], "\(String(describing: report))")

        // With two ranks the all-reduce adds two numbers, which is exact in either order: the
        // parameters must be bit-identical to the one-host run.
        let a = try checkpointTensors(hosts.appendingPathComponent("generator.safetensors").path)
        let b = try checkpointTensors(local.appendingPathComponent("generator.safetensors").path)
        XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
        XCTAssertFalse(a.isEmpty)
        for (k, v) in a { XCTAssertEqual(v, b[k], "tensor \(k) differs between 2 hosts and 1 host") }
    }
}
