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
///
/// The file is opened with `O_NONBLOCK`, so a FIFO, a socket or a terminal given as an input
/// cannot block the open (a FIFO with no writer would block it forever); anything that is not
/// a regular file is then refused, naming the path and what it is, before a byte is read.
func readWholeFile(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw FileFormatError(path: path, "cannot open for reading: \(errnoDescription())") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileFormatError(path: path, "cannot stat: \(errnoDescription())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        throw FileFormatError(path: path, "not a regular file (\(fileKind(info.st_mode))); inputs must be regular files")
    }
    // A regular file never blocks, but clear the flag so reads behave as documented everywhere.
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    let size = Int(info.st_size)
    // Refuse up front what could never fit, rather than dying in the allocation below.
    let memory = ProcessInfo.processInfo.physicalMemory
    guard UInt64(max(size, 0)) <= memory else {
        throw FileFormatError(path: path, "file is \(size) bytes, more than this machine's \(memory) bytes of memory")
    }
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

/// Reads a whole input file without ever blocking in `open` (see `readWholeFile`): the public
/// entry point for readers outside this module (JSON configs, mixture files), so that a FIFO,
/// socket or device given as an input path is refused with an error naming the path instead of
/// hanging the run. Errors are `FileFormatError`s naming `path`.
public func readRegularFile(_ path: String) throws -> Data {
    try readWholeFile(path)
}

/// What kind of file a `st_mode` describes, for error messages.
func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    case S_IFLNK: return "a symbolic link"
    default: return "file type 0o\(String(mode & S_IFMT, radix: 8))"
    }
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
