import FileFormats
import Foundation
import XCTest

/// Inputs that are not regular files (a FIFO with no writer, a directory, a device) are refused
/// with an error naming the path, and never block in open(): before, a FIFO given as a
/// checkpoint, samples file or dataset hung the run forever.
final class NonRegularFileTests: FileFormatsTestCase {
    /// Runs `body` on another thread; fails (and unblocks a reader stuck on `fifo`) if it has not
    /// returned within 5 s.
    func withinSeconds(_ fifo: String?, _ what: String, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { body(); done.signal() }
        if done.wait(timeout: .now() + 5) == .timedOut {
            XCTFail("\(what) blocked for 5 s")
            if let fifo {  // open the writing end so the blocked reader can return
                let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
            _ = done.wait(timeout: .now() + 5)
        }
    }

    func testFIFOIsRefusedByEveryReaderWithoutBlocking() throws {
        let fifo = temp("input.fifo")
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let readers: [(String, @Sendable () throws -> Void)] = [
            ("safetensors", { _ = try SafeTensorsFile(path: fifo) }),
            ("npy", { _ = try NPY.read(path: fifo) }),
            ("idx", { _ = try IDX.read(path: fifo) }),
            ("csv", { _ = try CSV.readMatrix(path: fifo) }),
            ("readRegularFile", { _ = try readRegularFile(fifo) }),

        ]
        for (name, read) in readers {
            withinSeconds(fifo, name) {
                assertRejects([fifo, "not a regular file", "FIFO"]) { try read() }
            }
        }
    }

    func testDirectoryAndDeviceAreRefused() throws {
        assertRejects([tempDir, "not a regular file", "directory"]) { try readRegularFile(tempDir) }
        withinSeconds(nil, "/dev/zero") {
            assertRejects(["/dev/zero", "not a regular file", "character device"]) { try NPY.read(path: "/dev/zero") }
        }
    }

    func testRegularFileStillReads() throws {
        let path = temp("a.npy")
        try NPY.write(path: path, shape: [2, 1], values: [1, 2])
        XCTAssertEqual(try NPY.read(path: path).values, [1, 2])
        XCTAssertEqual(try readRegularFile(path).count, try Data(contentsOf: URL(fileURLWithPath: path)).count)
    }
}
