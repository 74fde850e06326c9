import FileFormats
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class AtomicFileTests: FileFormatsTestCase {
    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: tempDir).filter { $0.contains(".tmp-") }
    }

    func testWriteAndOverwrite() throws {
        let path = temp("state.bin")
        try AtomicFile.write(Data("first".utf8), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("first".utf8))
        try AtomicFile.write(Data("second, longer content".utf8), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("second, longer content".utf8))
        try AtomicFile.write(Data(), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, 0)
        XCTAssertEqual(try leftovers(), [])
    }

    func testKeepsPermissions() throws {
        let path = temp("private.bin")
        try AtomicFile.write(Data("a".utf8), to: path)
        XCTAssertEqual(chmod(path, 0o600), 0)
        try AtomicFile.write(Data("b".utf8), to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testNonexistentDirectoryFails() {
        let path = temp("missing/dir/file.bin")
        assertRejects([path, "cannot create temporary file"]) { try AtomicFile.write(Data("x".utf8), to: path) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testFailedRenameLeavesTargetAndNoTemporaryFile() throws {
        // The target is a non-empty directory: refused before anything is written (it used to
        // fail at the final rename).
        let target = temp("occupied")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        try Data("old".utf8).write(to: URL(fileURLWithPath: target + "/inner"))
        assertRejects([target, "not a regular file", "directory"]) { try AtomicFile.write(Data("new".utf8), to: target) }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target + "/inner")), Data("old".utf8))
        XCTAssertEqual(try leftovers(), [])
    }

    /// A FIFO (or a device such as /dev/null, which a rename as root would replace) given as the
    /// output is refused and left in place.
    func testNonRegularTargetIsNotReplaced() throws {
        let fifo = temp("out.fifo")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        assertRejects([fifo, "not a regular file", "FIFO"]) { try AtomicFile.write(Data("new".utf8), to: fifo) }
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertEqual(try leftovers(), [])
    }

    func testFailedWriteKeepsOldContent() throws {
        // Make write(2) fail part-way with EFBIG via a file-size limit; the old file must survive intact.
        let path = temp("checkpoint.bin")
        let old = Data(repeating: 7, count: 1000)
        try AtomicFile.write(old, to: path)
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        var limited = saved
        limited.rlim_cur = 4096
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited), 0)
        var failure: FileFormatError?
        do {
            try AtomicFile.write(Data(repeating: 9, count: 100_000), to: path)
        } catch let error as FileFormatError {
            failure = error
        }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        XCTAssertNotNil(failure, "write past RLIMIT_FSIZE should have failed")
        XCTAssertTrue(failure?.description.contains("write failed") ?? false, "\(String(describing: failure))")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), old)
        XCTAssertEqual(try leftovers(), [])
    }

    func testReadOnlyDirectoryKeepsOldContent() throws {
        guard geteuid() != 0 else {
            throw XCTSkip("running as root: directory permissions are not enforced (covered by the other failure tests)")
        }
        let dir = temp("ro")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try AtomicFile.write(Data("old".utf8), to: dir + "/f")
        XCTAssertEqual(chmod(dir, 0o500), 0)
        defer { chmod(dir, 0o700) }
        assertRejects(["cannot create temporary file"]) { try AtomicFile.write(Data("new".utf8), to: dir + "/f") }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/f")), Data("old".utf8))
    }
}
