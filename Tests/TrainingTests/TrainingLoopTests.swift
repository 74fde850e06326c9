import XCTest
import Foundation
import Training

/// A trainable whose state is one number: each step every rank adds its rank + 1, summed over
/// ranks, so the state after n steps is n * R (R + 1) / 2 on every rank.
final class CountingTrainable: Trainable {
    let collectives: Collectives
    var step = 0
    var value: Float = 0
    var config = #"{"rate":1}"#
    let stopAt: Int?
    /// A rank whose restore fails, as one that cannot read the checkpoint would.
    var unreadableOnRank: Int?
    init(_ c: Collectives, stopAt: Int? = nil) { collectives = c; self.stopAt = stopAt }
    var samplesPerStep: Int { 1 }
    func trainStep() throws -> Bool {
        var g: Float = Float(collectives.rank + 1)
        try collectives.allreduceSum(&g, count: 1)
        value += g
        step += 1
        return try collectives.any(step == stopAt)
    }
    func metrics() -> [(String, Double)] { [("value", Double(value))] }
    func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        c.add("value", shape: [1], values: [value])
        c.metadata = ["step": "\(step)", "config": config]
        return c
    }
    func restore(_ c: Checkpoint) throws {
        if unreadableOnRank == collectives.rank { throw ConfigError("\(c.path): no such file") }
        try ConfigCompatibility.check(saved: try c.meta("config"), current: config, mutable: [], source: c.path)
        value = c.tensors["value"]!.values[0]
        step = try c.metaInt("step")
    }
    func stateChecksum() -> UInt64 { UInt64(value.bitPattern) ^ UInt64(step) }
}

final class TrainingLoopTests: XCTestCase {
    func loop(_ c: Collectives, _ path: String, steps: Int, every: Int = 5) -> TrainingLoop {
        TrainingLoop(collectives: c, directory: CheckpointDirectory(path: path),
                     schedule: TrainingSchedule(steps: steps, checkpointEvery: every),
                     progress: TrainingProgress(isRoot: false, totalSteps: steps, every: every))
    }

    func testRunsCheckpointsAndResumes() throws {
        let path = scratchDirectory("loop")
        let t = CountingTrainable(.single)
        // Each loop holds the folder's lock while it lives, as a run does.
        let final = try { () throws -> String in
            let l = loop(LocalCollectives.single(), path, steps: 12)
            try l.prepare(t, mode: .fresh)
            return try l.run(t, finalName: "final.safetensors")
        }()
        XCTAssertEqual(t.value, 12)
        XCTAssertEqual(CheckpointDirectory(path: path).checkpoints().map(\.step), [5, 10, 12])
        XCTAssertEqual(try Checkpoint.read(final).tensors["value"]?.values, [12])
        // A fresh run into the used folder is refused; --resume continues; --overwrite replaces.
        XCTAssertThrowsError(try loop(LocalCollectives.single(), path, steps: 20).prepare(CountingTrainable(.single), mode: .fresh)) {
            XCTAssertTrue("\($0)".contains("holds an earlier run") && "\($0)".contains("--resume"), "\($0)")
        }
        let resumed = CountingTrainable(.single)
        try { () throws in
            let l2 = loop(LocalCollectives.single(), path, steps: 20)
            try l2.prepare(resumed, mode: .resume)
            XCTAssertEqual(resumed.step, 12)
            try l2.run(resumed, finalName: "final.safetensors")
        }()
        XCTAssertEqual(resumed.value, 20)
        let other = CountingTrainable(.single)
        other.config = #"{"rate":2}"#
        XCTAssertThrowsError(try loop(LocalCollectives.single(), path, steps: 30).prepare(other, mode: .resume)) {
            XCTAssertTrue("\($0)".contains("rate was 1, now 2"), "\($0)")
        }
        let fresh = CountingTrainable(.single)
        try loop(LocalCollectives.single(), path, steps: 3).prepare(fresh, mode: .overwrite)
        XCTAssertEqual(CheckpointDirectory(path: path).checkpoints().count, 0)
        XCTAssertEqual(fresh.step, 0)
    }

    /// Preemption agreed by the ranks: every rank stops at the same step after a checkpoint.
    func testStopRequestCheckpointsAndThrowsPreempted() throws {
        let path = scratchDirectory("stop")
        let steps = try LocalCollectives.run(ranks: 2) { c -> Int in
            let t = CountingTrainable(c, stopAt: 7)
            let l = self.loop(c, path, steps: 100, every: 1000)
            try l.prepare(t, mode: .fresh)
            do { try l.run(t, finalName: "f.safetensors"); return -1 } catch RunStop.preempted(let s, _) { return s }
        }
        XCTAssertEqual(steps, [7, 7])
        XCTAssertEqual(CheckpointDirectory(path: path).checkpoints().map(\.step), [7])
    }

    /// Ranks given different output folders fail together before any step; ranks that see the
    /// same folder differently (node-local disks: here rank 1 cannot read the checkpoint rank 0
    /// chose) fail together on resume, naming the rank.
    func testRanksThatSeeDifferentFoldersFailTogetherOnResume() throws {
        let a = scratchDirectory("node-a"), b = scratchDirectory("node-b")
        try { () throws in
            let t0 = CountingTrainable(.single)
            let l0 = loop(LocalCollectives.single(), a, steps: 10)
            try l0.prepare(t0, mode: .fresh)
            try l0.run(t0, finalName: "f.safetensors")
        }()
        func outcomes(_ paths: [String], unreadableOnRank: Int?) throws -> [String] {
            try LocalCollectives.run(ranks: 2) { c -> String in
                let t = CountingTrainable(c)
                t.unreadableOnRank = unreadableOnRank
                do {
                    try self.loop(c, paths[c.rank], steps: 20).prepare(t, mode: .resume)
                    return "resumed at \(t.step)"
                } catch { return "\(error)" }
            }
        }
        for o in try outcomes([a, b], unreadableOnRank: nil) {
            XCTAssertTrue(o.contains("different output folders") && o.contains(a) && o.contains(b), o)
        }
        for o in try outcomes([a, a], unreadableOnRank: 1) {
            XCTAssertTrue(o.contains("cannot resume") && o.contains("rank 1 of 2") && o.contains("node-local"), o)
        }
        XCTAssertEqual(try outcomes([a, a], unreadableOnRank: nil), ["resumed at 10", "resumed at 10"])
    }

    /// The time limit stops every rank at the same step, with a checkpoint there.
    func testTimeLimitStopsAllRanksAtOneStep() throws {
        let path = scratchDirectory("time")
        let steps = try LocalCollectives.run(ranks: 2) { c -> Int in
            let t = CountingTrainable(c)
            let l = TrainingLoop(collectives: c, directory: CheckpointDirectory(path: path),
                                 schedule: TrainingSchedule(steps: 1_000_000_000, checkpointEvery: 1_000_000, timeLimit: 0.2),
                                 progress: TrainingProgress(isRoot: false, totalSteps: 1, every: 1))
            try l.prepare(t, mode: .fresh)
            try l.run(t, finalName: "f.safetensors")
            return t.step
        }
        XCTAssertEqual(steps[0], steps[1])
        XCTAssertGreaterThan(steps[0], 0)
        XCTAssertEqual(CheckpointDirectory(path: path).checkpoints().map(\.step), [steps[0]])
    }
}
