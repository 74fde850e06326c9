import FileFormats
import Foundation
import XCTest

final class SafeTensorsTests: FileFormatsTestCase {
    static func sampleFile() throws -> SafeTensorsFile {
        try SafeTensorsFile(tensors: [
            SafeTensorsEntry(name: "weight", shape: [2, 3], floats: [1.5, -2, 3.25, 0, .pi, -1e-7]),
            SafeTensorsEntry(name: "bias", shape: [3], doubles: [0.1, -0.2, 1e300]),
            SafeTensorsEntry(name: "step", shape: [], int64s: [Int64.max]),
            SafeTensorsEntry(name: "counts", shape: [2], int32s: [-7, Int32.min]),
            SafeTensorsEntry(name: "mask", shape: [5], uint8s: [0, 1, 255, 7, 9]),
            SafeTensorsEntry(name: "empty", shape: [0, 4], floats: []),
        ], metadata: ["epoch": "12", "note": "quote \" backslash \\ newline \n ü"])
    }

    func testRoundTripInMemory() throws {
        let original = try Self.sampleFile()
        let parsed = try SafeTensorsFile(data: original.serialized())
        XCTAssertEqual(parsed.metadata, original.metadata)
        XCTAssertEqual(Set(parsed.names), Set(original.names))
        XCTAssertEqual(parsed.names.count, 6)
        for name in original.names {
            XCTAssertEqual(parsed.tensors[name], original.tensors[name], name)
        }
        XCTAssertEqual(try parsed.floats(named: "weight", shape: [2, 3]), [1.5, -2, 3.25, 0, .pi, -1e-7])
        XCTAssertEqual(try parsed.doubles(named: "bias", shape: [3]), [0.1, -0.2, 1e300])
        XCTAssertEqual(try parsed.int64s(named: "step", shape: []), [Int64.max])
        XCTAssertEqual(try parsed.entry(named: "counts").int32s(), [-7, Int32.min])
        XCTAssertEqual(try parsed.entry(named: "mask").uint8s(), [0, 1, 255, 7, 9])
        XCTAssertEqual(try parsed.floats(named: "empty", shape: [0, 4]), [])
        XCTAssertEqual(parsed.tensors["step"]?.shape, [])
        XCTAssertEqual(parsed.tensors["step"]?.elementCount, 1)
    }

    func testRoundTripThroughFile() throws {
        let path = temp("model.safetensors")
        let original = try Self.sampleFile()
        try original.write(to: path)
        let parsed = try SafeTensorsFile(path: path)
        XCTAssertEqual(parsed.path, path)
        XCTAssertEqual(parsed.metadata, original.metadata)
        XCTAssertEqual(parsed.tensors, original.tensors)
        // Re-serializing a parsed file is byte-identical.
        XCTAssertEqual(parsed.serialized(), original.serialized())
    }

    func testWriterLayout() throws {
        let data = try Self.sampleFile().serialized()
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "header must be padded to a multiple of 8")
        let header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":{"))
        XCTAssertTrue(header.hasSuffix("}") || header.hasSuffix(" "))
        let parsed = try SafeTensorsFile(data: data)
        // File order: larger elements first (natural alignment), then by name.
        XCTAssertEqual(parsed.names, ["bias", "step", "counts", "empty", "weight", "mask"])
        XCTAssertEqual(data.count, 8 + headerLength + 24 + 8 + 8 + 0 + 24 + 5)
    }

    func testEmptyFileWithOnlyMetadataAndNothing() throws {
        let none = try SafeTensorsFile()
        let parsed = try SafeTensorsFile(data: none.serialized())
        XCTAssertTrue(parsed.tensors.isEmpty)
        XCTAssertTrue(parsed.metadata.isEmpty)
        var meta = try SafeTensorsFile(metadata: ["a": "b"])
        meta.insert(try SafeTensorsEntry(name: "x", shape: [1], floats: [2]))
        meta.insert(try SafeTensorsEntry(name: "x", shape: [2], floats: [3, 4]))  // replaces
        let reparsed = try SafeTensorsFile(data: meta.serialized())
        XCTAssertEqual(reparsed.metadata, ["a": "b"])
        XCTAssertEqual(try reparsed.floats(named: "x", shape: [2]), [3, 4])
    }

    func testEntryConstructorsValidate() {
        assertRejects(["needs 24 bytes, got 20"]) { try SafeTensorsEntry(name: "w", shape: [2, 3], floats: [1, 2, 3, 4, 5]) }
        assertRejects(["invalid shape"]) { try SafeTensorsEntry(name: "w", shape: [-1], floats: []) }
        assertRejects(["reserved"]) { try SafeTensorsEntry(name: "__metadata__", shape: [], floats: [1]) }
        assertRejects(["duplicate tensor name \"a\""]) {
            try SafeTensorsFile(tensors: [SafeTensorsEntry(name: "a", shape: [], floats: [1]),
                                          SafeTensorsEntry(name: "a", shape: [], floats: [2])])
        }
    }

    func testLargeFileIsLinear() throws {
        // 16M floats = 64 MiB through serialize and parse; quadratic code would not finish in time.
        let count = 16 << 20
        var values = [Float](repeating: 0, count: count)
        for i in stride(from: 0, to: count, by: 4099) { values[i] = Float(i) }
        let file = try SafeTensorsFile(tensors: [SafeTensorsEntry(name: "big", shape: [count / 1024, 1024], floats: values)])
        let start = Date()
        let parsed = try SafeTensorsFile(data: file.serialized())
        let back = try parsed.floats(named: "big", shape: [count / 1024, 1024])
        XCTAssertEqual(back.count, count)
        XCTAssertEqual(back[4099 * 1000], Float(4099 * 1000))
        XCTAssertTrue(back == values)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }
}
