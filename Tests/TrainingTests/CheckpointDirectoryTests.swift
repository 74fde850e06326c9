import XCTest
import Foundation
import Training

func scratchDirectory(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "emd-training-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func smallCheckpoint(_ value: Float) -> Checkpoint {
    var c = Checkpoint()
    c.add("t", shape: [2], values: [value, 2])
    return c
}

final class CheckpointDirectoryTests: XCTestCase {
    func testKeepsTheNewestAndParsesEveryNumbering() throws {
        let path = scratchDirectory("keep")
        let dir = CheckpointDirectory(path: path, keep: 2)
        for s in [10, 20, 30] { try dir.save(smallCheckpoint(Float(s)), step: s) }
        XCTAssertEqual(dir.checkpoints().map(\.step), [20, 30])
        // A stray file with another digit count names its own file, not a padded one that does
        // not exist; an unparseable name is ignored.
        try smallCheckpoint(70).write(to: path + "/ckpt-70.safetensors")
        FileManager.default.createFile(atPath: path + "/ckpt-x.safetensors", contents: Data())
        XCTAssertEqual(dir.checkpoints().last?.file, path + "/ckpt-70.safetensors")
        XCTAssertEqual(dir.newestReadable(log: { _ in })?.step, 70)
    }

    /// A corrupt newest checkpoint: resume falls back to the newest that reads, and says so.
    func testCorruptNewestFallsBackToAnOlderOne() throws {
        let dir = CheckpointDirectory(path: scratchDirectory("fallback"), keep: 3)
        for s in [10, 20] { try dir.save(smallCheckpoint(Float(s)), step: s) }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.file(step: 30)))
        var lines: [String] = []
        let found = dir.newestReadable { lines.append($0) }
        XCTAssertEqual(found?.step, 20)
        XCTAssertEqual(found?.checkpoint.tensors["t"]?.values, [20, 2])
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].contains(dir.file(step: 30)) && lines[0].contains("falling back"), lines[0])
    }

    /// Two runs on one folder: the second is refused with the first's process named, until the
    /// first ends; leftovers of an interrupted checkpoint write are removed by the next run.
    func testLockRefusesASecondRunAndCleansStaleTemporaries() throws {
        let path = scratchDirectory("lock")
        FileManager.default.createFile(atPath: path + "/.ckpt-00000010.safetensors.tmp-999-1", contents: Data([1]))
        var first: CheckpointDirectory? = CheckpointDirectory(path: path)
        try first!.acquire()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "/.ckpt-00000010.safetensors.tmp-999-1"))
        XCTAssertThrowsError(try CheckpointDirectory(path: path).acquire()) { e in
            XCTAssertTrue("\(e)".contains("in use by another run") && "\(e)".contains("pid \(getpid())"), "\(e)")
        }
        first = nil
        XCTAssertNoThrow(try CheckpointDirectory(path: path).acquire())
        XCTAssertThrowsError(try CheckpointDirectory(path: "").acquire()) { XCTAssertTrue("\($0)".contains("--out is empty")) }
        XCTAssertThrowsError(try CheckpointDirectory(path: "/dev/null").acquire())
    }

    /// A state holding NaN is never written.
    func testNonFiniteStateIsNotWritten() {
        var c = Checkpoint()
        c.add("w", shape: [3], values: [1, .nan, 2])
        let path = scratchDirectory("nan") + "/c.safetensors"
        XCTAssertThrowsError(try c.write(to: path)) { XCTAssertTrue("\($0)".contains("non-finite"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }
}

final class ConfigCompatibilityTests: XCTestCase {
    func testChangedSettingsAreNamedAndScheduleChangesAllowed() throws {
        let saved = #"{"batch":64,"seed":0,"steps":100,"network":{"hidden":32},"logEvery":10}"#
        XCTAssertNoThrow(try ConfigCompatibility.check(saved: saved, current: #"{"batch":64,"seed":0,"steps":500,"network":{"hidden":32},"logEvery":1}"#,
                                                       mutable: ["steps", "logEvery"], source: "c"))
        XCTAssertThrowsError(try ConfigCompatibility.check(saved: saved, current: #"{"batch":32,"seed":0,"steps":100,"network":{"hidden":64},"logEvery":10}"#,
                                                           mutable: ["steps", "logEvery"], source: "c")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("batch was 64, now 32") && s.contains("network.hidden was 32, now 64"), s)
            XCTAssertFalse(s.contains("seed"), s)
        }
    }
}

/// metrics.jsonl on a full disk: appends fail soft, reported once, and never crash.
final class MetricsLogTests: XCTestCase {
    func testFullDiskIsReportedOnceAndIgnored() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let dir = scratchDirectory("fulldisk")
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=16k", "tmpfs", dir]
        try mount.run(); mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { throw XCTSkip("cannot mount a tmpfs here") }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [dir]
            try? umount.run(); umount.waitUntilExit()
        }
        let log = try MetricsLog(path: dir + "/metrics.jsonl")
        for step in 0..<2000 { log.append(step: step, [("loss", Double(step)), ("padding", 123456.789)]) }
        let written = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        XCTAssertGreaterThan(written.count, 1000, "rows before the disk filled are kept")
        XCTAssertLessThan(written.count, 17_000)
        // Every complete line is valid JSON (O_APPEND, one write per line).
        for line in written.split(separator: "\n").dropLast() {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
        }
    }

    /// A setting added after a checkpoint was written matches when the current value is its
    /// default (the older run computed the default), and only then; nested keys too.
    func testSettingsAddedSinceTheCheckpointMatchTheirDefaults() throws {
        let saved = #"{"lr": 0.1, "net": {"width": 8}}"#
        let defaults = #"{"lr": 0.001, "dropout": 0.1, "net": {"width": 4, "classes": 0}}"#
        XCTAssertNoThrow(try ConfigCompatibility.check(saved: saved, current: #"{"lr": 0.1, "dropout": 0.1, "net": {"width": 8, "classes": 0}}"#,
                                                       mutable: [], source: "c", defaults: defaults))
        XCTAssertThrowsError(try ConfigCompatibility.check(saved: saved, current: #"{"lr": 0.1, "dropout": 0.2, "net": {"width": 8, "classes": 0}}"#,
                                                           mutable: [], source: "c", defaults: defaults)) { XCTAssertTrue("\($0)".contains("dropout")) }
        XCTAssertThrowsError(try ConfigCompatibility.check(saved: saved, current: #"{"lr": 0.1, "dropout": 0.1, "net": {"width": 8, "classes": 10}}"#,
                                                           mutable: [], source: "c", defaults: defaults)) { XCTAssertTrue("\($0)".contains("net.classes")) }
        // Without defaults a new key is a difference, as before.
        XCTAssertThrowsError(try ConfigCompatibility.check(saved: saved, current: #"{"lr": 0.1, "dropout": 0.1, "net": {"width": 8, "classes": 0}}"#,
                                                           mutable: [], source: "c"))
    }
}
