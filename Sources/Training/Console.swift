#if canImport(Glibc)
import Glibc
#endif

/// Writes to standard output and standard error that fail soft: a full disk, a closed pipe
/// (SIGPIPE is ignored by `Preemption.install`) or `/dev/full` make a write fail, which is
/// reported once on standard error and otherwise ignored, so training goes on and checkpoints.
/// (Foundation's `FileHandle.write` traps on such errors.)
public enum Console {
    nonisolated(unsafe) private static var reportedFailure: [Bool] = [false, false, false]

    /// Write `text` to standard output.
    public static func out(_ text: String) { write(1, text) }
    /// Write `text` to standard error.
    public static func error(_ text: String) { write(2, text) }

    /// Write all of `text` to `fd`; on failure say so once on standard error.
    public static func write(_ fd: Int32, _ text: String) {
        var text = text
        let failure: Int32? = text.withUTF8 { writeAll(fd, $0) }
        if let code = failure, fd >= 1, fd <= 2, !reportedFailure[Int(fd)] {
            reportedFailure[Int(fd)] = true
            if fd == 1 {
                let message = "emd: writing to standard output failed (\(String(cString: strerror(code)))); "
                    + "output is dropped from now on, training goes on\n"
                _ = message.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
            }
        }
    }

    /// Write every byte of `bytes` to `fd`, retrying short writes; the errno on failure.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }
}
