import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `metrics.jsonl`: one JSON object per logged step, appended (O_APPEND, one write per line, so
/// a line is never interleaved or half-replaced). A failed write (a full disk) is reported once
/// on standard error and the run goes on: metrics are a log, checkpoints are the state.
public final class MetricsLog {
    public let path: String
    private let fd: Int32
    private var failed = false

    /// Open `path` for appending, creating it if needed.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw ConfigError("cannot open metrics file \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ConfigError("metrics file \(path) is not a regular file")
        }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Append one row: the step and named values (a non-finite value is written as a string).
    public func append(step: Int, _ values: [(String, Double)]) {
        var object: [String: Any] = ["step": step]
        for (k, v) in values { object[k] = v.isFinite ? v : String(v) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        let line = data + Data("\n".utf8)
        let failure = line.withUnsafeBytes { Console.writeAll(fd, $0.bindMemory(to: UInt8.self)) }
        if let code = failure, !failed {
            failed = true
            Console.error("emd: writing \(path) failed (\(String(cString: strerror(code)))); metrics are dropped from now on, training and checkpoints go on\n")
        }
    }
}
