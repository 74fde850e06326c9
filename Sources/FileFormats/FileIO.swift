import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The message for the current `errno`.
func errnoDescription(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Reads a whole regular file with POSIX calls so failures carry the `errno` message.
func readWholeFile(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileFormatError(path: path, "cannot open for reading: \(errnoDescription())") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileFormatError(path: path, "cannot stat: \(errnoDescription())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileFormatError(path: path, "not a regular file") }
    let size = Int(info.st_size)
    var data = Data(count: size)
    var filled = 0
    let failure: Int32? = data.withUnsafeMutableBytes { raw -> Int32? in
        guard let base = raw.baseAddress else { return nil }
        while filled < size {
            let n = read(fd, base + filled, min(size - filled, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { break }  // the file shrank while we read it
            filled += n
        }
        return nil
    }
    if let code = failure { throw FileFormatError(path: path, "read failed: \(errnoDescription(code))") }
    if filled < size { data.count = filled }
    return data
}

/// Writes all of `data` to `fd`, retrying short writes; returns an errno on failure.
func writeAll(_ fd: Int32, _ data: Data) -> Int32? {
    data.withUnsafeBytes { raw -> Int32? in
        guard let base = raw.baseAddress else { return nil }
        var offset = 0
        while offset < raw.count {
            let n = write(fd, base + offset, min(raw.count - offset, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }
}
