import FileFormats
import Foundation
import XCTest

final class IDXTests: FileFormatsTestCase {
    func testRawAndGzipRoundTrip() throws {
        let bytes = (0..<60).map { UInt8($0 * 3 % 256) }
        for compressed in [false, true] {
            let path = temp(compressed ? "a.idx.gz" : "a.idx")
            try IDX.write(path: path, dims: [3, 4, 5], bytes: bytes, gzip: compressed)
            let fileStart = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)).prefix(4))
            XCTAssertEqual(fileStart, compressed ? [0x1f, 0x8b, 8, 0] : [0, 0, 8, 3])
            let array = try IDX.read(path: path)
            XCTAssertEqual(array.dims, [3, 4, 5])
            XCTAssertEqual(array.dataType, IDX.unsignedByte)
            XCTAssertEqual(array.bytes, bytes)
            XCTAssertEqual(array.elementCount, 60)
        }
    }

    func testFloat32BigEndian() throws {
        let values: [Float] = [1, -2.5, .infinity, 1e-30]
        let bytes = values.flatMap { bigEndianBytes($0.bitPattern) }
        let array = try IDX.decode(data: IDX.encode(dims: [2, 2], bytes: bytes, dataType: IDX.float32))
        XCTAssertEqual(array.dims, [2, 2])
        XCTAssertEqual(try array.floats(), values)
        assertRejects(["not float32"]) { try IDX.decode(data: IDX.encode(dims: [1], bytes: [1])).floats() }
    }

    func testRejections() throws {
        assertRejects(["x.idx", "bad IDX magic number 0x01000801"]) { try IDX.decode(data: Data([1, 0, 8, 1, 0, 0, 0, 0]), path: "x.idx") }
        assertRejects(["number of dimensions is 0"]) { try IDX.decode(data: Data([0, 0, 8, 0])) }
        assertRejects(["number of dimensions is 5"]) { try IDX.decode(data: Data([0, 0, 8, 5] + Array(repeating: 0, count: 20))) }
        assertRejects(["unsupported IDX data type 0x0C"]) { try IDX.decode(data: Data([0, 0, 0x0C, 1, 0, 0, 0, 0])) }
        assertRejects(["truncated IDX header"]) { try IDX.decode(data: Data([0, 0, 8, 3, 0, 0, 0, 1])) }
        assertRejects(["too short"]) { try IDX.decode(data: Data([0, 0])) }
        let header: [UInt8] = [0, 0, 8, 3] + bigEndianBytes(60000) + bigEndianBytes(28) + bigEndianBytes(28)
        assertRejects(["train-images.idx: header says 60000x28x28 = 47040000 bytes but 1000 remain"]) {
            try IDX.decode(data: Data(header + Array(repeating: 0, count: 1000)), path: "train-images.idx")
        }
        let hugeDims: [UInt8] = [0, 0, 8, 4] + Array(repeating: 0xFF, count: 16)
        assertRejects(["overflows"]) { try IDX.decode(data: Data(hugeDims)) }
        assertRejects(["do not match"]) { try IDX.encode(dims: [2, 2], bytes: [1, 2, 3]) }
    }

    func testGzipErrors() throws {
        let payload = try IDX.encode(dims: [1000], bytes: (0..<1000).map { UInt8($0 % 251) })
        let compressed = try gzip(payload)
        assertRejects(["t.gz", "truncated"]) { try IDX.decode(data: compressed.prefix(compressed.count / 2), path: "t.gz") }
        assertRejects(["truncated"]) { try gunzip(compressed.prefix(compressed.count - 4)) }
        var corrupt = compressed
        corrupt[12] ^= 0x55
        corrupt[13] ^= 0xAA
        assertRejects(["gzip"]) { try gunzip(corrupt) }
        assertRejects(["not gzip data"]) { try gunzip(Data([1, 2, 3])) }
        assertRejects(["exceeds the 100-byte limit"]) { try gunzip(compressed, maxOutputBytes: 100) }
        assertRejects(["unexpected bytes after the end"]) { try gunzip(compressed + Data([0, 1, 2])) }
        // Concatenated gzip members decompress to the concatenation.
        XCTAssertEqual(try gunzip(compressed + gzip(Data("tail".utf8))), payload + Data("tail".utf8))
        XCTAssertEqual(try gunzip(compressed), payload)
    }

    func testFashionMNISTIfPresent() throws {
        let dir = "/usr/share/datasets/fashion-mnist"
        let labelsPath = dir + "/t10k-labels-idx1-ubyte.gz"
        guard FileManager.default.fileExists(atPath: labelsPath) else {
            throw XCTSkip("\(labelsPath) not present")
        }
        let labels = try IDX.read(path: labelsPath)
        XCTAssertEqual(labels.dims, [10000])
        XCTAssertTrue(labels.bytes.allSatisfy { $0 < 10 })
        XCTAssertEqual(Set(labels.bytes).count, 10)
        let images = try IDX.read(path: dir + "/t10k-images-idx3-ubyte.gz")
        XCTAssertEqual(images.dims, [10000, 28, 28])
        XCTAssertEqual(images.bytes.count, 7_840_000)
        XCTAssertGreaterThan(images.bytes.max() ?? 0, 200)
    }
}
