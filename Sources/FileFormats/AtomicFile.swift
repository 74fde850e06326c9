import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe whole-file replacement.
public enum AtomicFile {
    /// Writes `data` to `path` atomically: the bytes go to a temporary file in the same directory,
    /// which is fsynced and renamed over `path`; then the directory is fsynced.
    ///
    /// Readers see either the old file or the complete new one. On failure the temporary file is
    /// removed and `path` is left untouched. An existing target's permission bits are kept.
    public static func write(_ data: Data, to path: String) throws {
        let (directory, name) = try checkedTarget(path)

        var fd: Int32 = -1
        var tempPath = ""
        for _ in 0..<64 {
            tempPath = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw FileFormatError(path: path, "cannot create temporary file in \(directory): \(errnoDescription())")
        }
        var renamed = false
        defer {
            if fd >= 0 { close(fd) }
            if !renamed { unlink(tempPath) }
        }

        var existing = stat()
        if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) == S_IFREG {
            _ = fchmod(fd, existing.st_mode & 0o7777)
        }
        if let code = writeAll(fd, data) {
            throw FileFormatError(path: path, "write failed: \(errnoDescription(code))")
        }
        guard fsync(fd) == 0 else { throw FileFormatError(path: path, "fsync failed: \(errnoDescription())") }
        let closeResult = close(fd)
        fd = -1
        guard closeResult == 0 else { throw FileFormatError(path: path, "close failed: \(errnoDescription())") }
        guard rename(tempPath, path) == 0 else {
            throw FileFormatError(path: path, "cannot rename temporary file over target: \(errnoDescription())")
        }
        renamed = true

        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else {
            throw FileFormatError(path: path, "written, but cannot open directory to fsync it: \(errnoDescription())")
        }
        defer { close(dirFD) }
        // Some file systems do not support fsync on directories (EINVAL); the rename still happened.
        if fsync(dirFD) != 0 && errno != EINVAL {
            throw FileFormatError(path: path, "written, but directory fsync failed: \(errnoDescription())")
        }
    }

    /// Throws the error `write(_:to:)` would throw for `path` before it writes anything (not a
    /// file path, a target that is not a regular file, a folder where no file can be created),
    /// by creating and removing a temporary file beside it: a command can refuse a bad output
    /// path before its work rather than after.
    public static func checkWritable(_ path: String) throws {
        let (directory, name) = try checkedTarget(path)
        let probe = "\(directory)/.\(name).probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FileFormatError(path: path, "cannot create a file in \(directory): \(errnoDescription())")
        }
        close(fd)
        unlink(probe)
    }

    /// The target's folder and name, after refusing what a rename must never replace: not a file
    /// path, or an existing device (/dev/null given as an output would be destroyed when run as
    /// root), FIFO or directory.
    private static func checkedTarget(_ path: String) throws -> (String, String) {
        let (directory, name) = split(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw FileFormatError(path: path, "not a file path")
        }
        var target = stat()
        if stat(path, &target) == 0, (target.st_mode & S_IFMT) != S_IFREG {
            throw FileFormatError(path: path, "exists and is not a regular file (\(fileKind(target.st_mode))); refusing to replace it")
        }
        return (directory, name)
    }

    /// Splits a path into (directory, last component); the directory is "." for bare names.
    private static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
