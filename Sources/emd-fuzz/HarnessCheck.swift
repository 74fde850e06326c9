import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `harness` target: the command-line campaigns' judge (`ChildRunner`) on scripted children
/// whose verdict is known, so a change to it that misjudges cannot go unnoticed:
///  - blocked without CPU (`sleep`): a hang;
///  - computing, ends on SIGTERM: slow (live), not a finding;
///  - computing and ignoring SIGTERM: a hang once it has had its grace in CPU time;
///  - runnable but starved of CPU (SCHED_IDLE beside a busy process on the same core, as a
///    campaign's children are beside builds on a shared machine), or waiting for a process of
///    its group that is: slow, not a hang.
/// Prints one line per case; returns whether every verdict was the expected one.
func checkHarness(work: String) -> Bool {
    try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    let log = work + "/harness-child.log"
    func runner(timeout: Double, grace: Double) -> ChildRunner {
        ChildRunner(emd: "/bin/sh", timeout: timeout, grace: grace, log: log)
    }
    var ok = true
    func expect(_ name: String, _ script: String, timeout: Double = 0.6, grace: Double = 1,
                _ judge: (ArgvOutcome) -> Bool) {
        let r = runner(timeout: timeout, grace: grace).run(["-c", script])
        let good = judge(r.outcome)
        ok = ok && good
        print("\(good ? "PASS" : "FAIL") \(name): \(describe(r.outcome)) after \(String(format: "%.2f", r.seconds)) s")
    }
    func isHang(_ o: ArgvOutcome, _ text: String) -> Bool {
        if case .hang(let why) = o { return why.contains(text) }
        return false
    }
    expect("blocked child", "exec sleep 30") { isHang($0, "blocked") }
    expect("computing child that stops on SIGTERM", "while :; do :; done") { $0 == .slow }
    expect("computing child that ignores SIGTERM", "trap '' TERM; while :; do :; done") { isHang($0, "did not stop") }
    // Starved: a busy loop at normal priority and the child at SCHED_IDLE, both on core 0. The
    // child is runnable throughout and gets almost no CPU; it must count as live and be given
    // its grace, then end on SIGTERM.
    let busy = Process()
    busy.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    busy.arguments = ["-c", "0", "/bin/sh", "-c", "while :; do :; done"]
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/chrt"), (try? busy.run()) != nil {
        expect("runnable child starved of CPU", "exec taskset -c 0 chrt --idle 0 sh -c 'trap \"exit 0\" TERM; while :; do :; done'",
               grace: 2) { $0 == .slow }
        // The child itself waits (for a process of its group, as an MPI singleton waits for its
        // helper daemon) while that process is the one starved.
        expect("child waiting for a starved process of its group",
               "taskset -c 0 chrt --idle 0 sh -c 'trap \"exit 0\" TERM; while :; do :; done'; exit 0",
               grace: 2) { $0 == .slow }
        busy.terminate()
        busy.waitUntilExit()
    } else {
        print("SKIP runnable child starved of CPU: cannot start the busy process or chrt is missing")
    }
    return ok
}
