import FileFormats
import Foundation
import XCTest

/// Base class giving each test a fresh temporary directory.
class FileFormatsTestCase: XCTestCase {
    var tempDir = ""

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("FileFormatsTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tempDir)
    }

    func temp(_ name: String) -> String { tempDir + "/" + name }
}

/// Asserts that `body` throws a `FileFormatError` whose description contains every fragment.
func assertRejects<T>(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected a FileFormatError containing \(fragments), but the call succeeded", file: file, line: line)
    } catch let error as FileFormatError {
        for fragment in fragments where !error.description.contains(fragment) {
            XCTFail("error \"\(error)\" does not mention \"\(fragment)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected FileFormatError, got \(type(of: error)): \(error)", file: file, line: line)
    }
}

enum Python {
    static let setupHint = "python3 with the 'safetensors' and 'numpy' modules is required for interop tests; run the setup: pip install safetensors numpy"

    /// Runs `python3 -c script args...` and returns stdout; any failure (python3 or a module
    /// missing, a failed check in the script) throws with the script's stderr.
    static func run(_ script: String, _ args: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + args
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw PythonError(message: "cannot start python3 (\(error)). \(setupHint)")
        }
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = String(decoding: err, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            if process.terminationStatus == 127 || errText.contains("No module named") {
                throw PythonError(message: "\(setupHint)\n\(errText)")
            }
            throw PythonError(message: "python3 script failed (status \(process.terminationStatus)):\n\(errText)")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs a script that prints one JSON object and returns it.
    static func json(_ script: String, _ args: [String]) throws -> [String: Any] {
        let output = try run(script, args)
        guard let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw PythonError(message: "python3 did not print a JSON object: \(output)")
        }
        return object
    }
}

struct PythonError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Converts a JSON array of Python `repr` strings to doubles. (Strings, because Foundation's
/// JSON number parsing is not correctly rounded; `Double(String)` is.)
func doublesFromJSON(_ value: Any?) -> [Double]? {
    guard let items = value as? [Any] else { return nil }
    let doubles = items.compactMap { ($0 as? String).flatMap { Double($0) } }
    return doubles.count == items.count ? doubles : nil
}

/// Independent bitwise CRC-32 (IEEE), for checking PNG chunks without zlib.
func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return ~crc
}

/// A zlib stream made of uncompressed (stored) deflate blocks, built without zlib.
func storedZlibStream(_ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let n = min(65535, payload.count - offset)
        let final: UInt8 = offset + n == payload.count ? 1 : 0
        out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        out += payload[offset..<offset + n]
        offset += n
    } while offset < payload.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in payload {
        a = (a + UInt32(byte)) % 65521
        b = (b + a) % 65521
    }
    let adler = b << 16 | a
    out += [UInt8(adler >> 24), UInt8((adler >> 16) & 0xFF), UInt8((adler >> 8) & 0xFF), UInt8(adler & 0xFF)]
    return out
}

func bigEndianBytes(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
}
