import Foundation
import FileFormats
#if canImport(Glibc)
import Glibc
#endif

/// A run's output folder: numbered checkpoints (`ckpt-00001000.safetensors`, the newest `keep`
/// kept), an advisory lock held for the run, and the choice of where to resume.
///
/// Only rank 0 writes here; the other ranks read the checkpoint rank 0 chose (`TrainingLoop`).
public final class CheckpointDirectory {
    public let path: String
    public let keep: Int
    private var lockDescriptor: Int32 = -1

    public init(path: String, keep: Int = 3) {
        self.path = path
        self.keep = max(1, keep)
    }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    /// The file of the checkpoint of `step`.
    public func file(step: Int) -> String { join(String(format: "ckpt-%08d.safetensors", step)) }

    func join(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The checkpoints present as (step, file), ascending by step. Names that do not parse
    /// (`ckpt-x.safetensors`) are ignored; any number of digits is accepted.
    public func checkpoints() -> [(step: Int, file: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("ckpt-"), n.hasSuffix(".safetensors"), let s = Int(n.dropFirst(5).dropLast(12)), s >= 0 else {
                return nil
            }
            return (s, join(n))
        }.sorted { $0.0 < $1.0 }
    }

    /// Create the folder and take its lock for the life of this object: a second run writing
    /// the same folder is refused with the other process named. Then remove temporary files
    /// that an interrupted checkpoint write left behind (nobody else can be writing them).
    public func acquire() throws {
        guard !path.isEmpty else { throw ConfigError("--out is empty: give an output folder") }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw ConfigError("cannot create output folder '\(path)': \((error as NSError).localizedDescription)")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw ConfigError("--out '\(path)' is not a folder")
        }
        let lockPath = join(".emd.lock")
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw ConfigError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw ConfigError("'\(path)' is in use by another run (\(holder.map { $0.isEmpty ? "unknown process" : $0 } ?? "unknown process")); "
                              + "wait for it to end or choose another --out")
        }
        let me = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(fd, 0)
        _ = me.utf8CString.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count - 1, 0) }
        lockDescriptor = fd
        try? FileManager.default.removeItem(atPath: preemptionMarker)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        where name.hasPrefix(".") && name.contains(".tmp-") {
            try? FileManager.default.removeItem(atPath: join(name))
        }
    }

    /// The marker a run leaves when it checkpointed on a preemption signal (removed when a run
    /// takes the folder): `launch/slurm.sbatch` requeues on it.
    public var preemptionMarker: String { join("preempted.json") }

    /// Write the preemption marker for `step`.
    public func markPreempted(step: Int) throws {
        let text = "{\"step\": \(step), \"checkpoint\": \"\(file(step: step))\"}\n"
        try AtomicFile.write(Data(text.utf8), to: preemptionMarker)
    }

    /// Whether the folder holds an earlier run's checkpoints or metrics.
    public var holdsRun: Bool {
        !checkpoints().isEmpty || FileManager.default.fileExists(atPath: join("metrics.jsonl"))
    }

    /// Remove an earlier run's checkpoints, metrics and final files (for `--overwrite`).
    public func clear(alsoRemoving extra: [String] = []) {
        for c in checkpoints() { try? FileManager.default.removeItem(atPath: c.file) }
        for name in ["metrics.jsonl", "ranks.json"] + extra { try? FileManager.default.removeItem(atPath: join(name)) }
    }

    /// The newest checkpoint that reads back, with a line for each newer one that did not
    /// (they are kept on disk for inspection). Nil when there is none.
    public func newestReadable(log: (String) -> Void) -> (checkpoint: Checkpoint, step: Int)? {
        for c in checkpoints().reversed() {
            do {
                return (try Checkpoint.read(c.file), c.step)
            } catch {
                log("checkpoint \(c.file) cannot be read (\(error)); falling back to an older one")
            }
        }
        return nil
    }

    /// Write `checkpoint` for `step` atomically, then delete all but the newest `keep`.
    public func save(_ checkpoint: Checkpoint, step: Int) throws {
        try checkpoint.write(to: file(step: step))
        for c in checkpoints().dropLast(keep) { try? FileManager.default.removeItem(atPath: c.file) }
    }
}
