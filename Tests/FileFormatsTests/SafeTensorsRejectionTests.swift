import FileFormats
import Foundation
import XCTest
import CounterRNG

final class SafeTensorsRejectionTests: XCTestCase {
    /// A file with an arbitrary header text and buffer; the length prefix can be overridden.
    func file(_ header: String, buffer: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
        rawFile(Data(header.utf8), buffer: buffer, declaredLength: declaredLength)
    }

    func rawFile(_ header: Data, buffer: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
        var data = Data()
        let n = declaredLength ?? UInt64(header.count)
        for i in 0..<8 { data.append(UInt8((n >> (8 * UInt64(i))) & 0xFF)) }
        data.append(header)
        data.append(contentsOf: buffer)
        return data
    }

    func parse(_ data: Data) throws -> SafeTensorsFile {
        try SafeTensorsFile(data: data, path: "checkpoint.safetensors")
    }

    func testTruncatedFile() {
        assertRejects(["checkpoint.safetensors", "file is 3 bytes", "too short"]) { try parse(Data([1, 2, 3])) }
        assertRejects(["file is 0 bytes"]) { try parse(Data()) }
    }

    func testHeaderLengthLargerThanFile() {
        let data = file("{}", buffer: Array(repeating: 0, count: 110), declaredLength: 9_999_999)
        XCTAssertEqual(data.count, 120)
        assertRejects(["checkpoint.safetensors: header length 9999999 exceeds file size 120"]) { try parse(data) }
        assertRejects(["header length 18446744073709551615 exceeds the 100000000-byte limit"]) {
            try parse(file("{}", declaredLength: UInt64.max))
        }
        assertRejects(["exceeds the 100000000-byte limit"]) { try parse(file("{}", declaredLength: 100_000_001)) }
    }

    func testOffsetsPastEnd() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertRejects(["tensor \"a\"", "past the end of the 4-byte data buffer"]) { try parse(file(header, buffer: [0, 0, 0, 0])) }
    }

    func testOverlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertRejects(["overlap", "\"a\"", "\"b\""]) { try parse(file(header, buffer: Array(repeating: 0, count: 12))) }
    }

    func testHugeShape() {
        let header = #"{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#
        assertRejects(["tensor \"a\"", "shape [1099511627776, 1099511627776]", "larger than"]) {
            try parse(file(header, buffer: [0, 0, 0, 0]))
        }
        let header2 = #"{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}}"#
        assertRejects(["larger than"]) { try parse(file(header2, buffer: [0, 0, 0, 0])) }
        let header3 = #"{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}"#
        assertRejects(["non-negative integers"]) { try parse(file(header3, buffer: [0, 0, 0, 0])) }
    }

    func testGapAndTrailingBytes() {
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertRejects(["gap", "bytes 4..<8", "\"b\""]) { try parse(file(gap, buffer: Array(repeating: 0, count: 12))) }
        let leading = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertRejects(["gap", "bytes 0..<4"]) { try parse(file(leading, buffer: Array(repeating: 0, count: 8))) }
        let trailing = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        assertRejects(["data buffer is 8 bytes but tensors cover only 4"]) { try parse(file(trailing, buffer: Array(repeating: 0, count: 8))) }
    }

    func testBadJSON() {
        assertRejects(["header is not valid JSON"]) { try parse(file(#"{"a": "#)) }
        assertRejects(["header is not valid JSON", "unexpected data after"]) { try parse(file("{} x")) }
        assertRejects(["header is a JSON array, expected an object"]) { try parse(file("[1,2]")) }
        assertRejects(["not valid JSON", "unexpected end"]) { try parse(file("")) }
        assertRejects(["nesting deeper than"]) { try parse(file("{\"a\":" + String(repeating: "[", count: 100_000))) }
        assertRejects(["not valid UTF-8"]) { try parse(rawFile(Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]))) }
        assertRejects(["unpaired surrogate"]) { try parse(file(#"{"\ud800":1}"#)) }
        // Trailing space padding is fine.
        XCTAssertNoThrow(try parse(file("{}      ")))
    }

    func testUnknownDtypeAndBadFields() {
        let unknown = #"{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}"#
        assertRejects(["tensor \"a\": unknown dtype \"F7\""]) { try parse(file(unknown, buffer: [0, 0, 0, 0])) }
        let negative = #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#
        assertRejects(["shape entries must be non-negative integers"]) { try parse(file(negative, buffer: [0, 0, 0, 0])) }
        let fractional = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4]}}"#
        assertRejects(["data_offsets must be two non-decreasing"]) { try parse(file(fractional, buffer: [0, 0, 0, 0])) }
        let decreasing = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#
        assertRejects(["data_offsets must be two non-decreasing"]) { try parse(file(decreasing, buffer: [0, 0, 0, 0])) }
        let three = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}"#
        assertRejects(["data_offsets must be two"]) { try parse(file(three, buffer: [0, 0, 0, 0])) }
        let mismatch = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#
        assertRejects(["span 8 bytes but shape [1] of F32 needs 4"]) { try parse(file(mismatch, buffer: Array(repeating: 0, count: 8))) }
        let missing = #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#
        assertRejects(["missing or non-array \"shape\""]) { try parse(file(missing, buffer: [0, 0, 0, 0])) }
        assertRejects(["tensor \"a\" is a JSON number"]) { try parse(file(#"{"a":3}"#)) }
    }

    func testDuplicatesAndMetadata() {
        let dup = #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        assertRejects(["duplicate tensor name \"a\""]) { try parse(file(dup, buffer: [1, 2])) }
        assertRejects(["__metadata__ value for \"k\" is a JSON number, expected a string"]) {
            try parse(file(#"{"__metadata__":{"k":1}}"#))
        }
        assertRejects(["__metadata__ is a JSON array"]) { try parse(file(#"{"__metadata__":["x"]}"#)) }
        assertRejects(["duplicate __metadata__ key"]) { try parse(file(#"{"__metadata__":{"k":"a","k":"b"}}"#)) }
        XCTAssertEqual(try parse(file(#"{"__metadata__":{"k":"v\u00e9\n"}}"#)).metadata, ["k": "vé\n"])
    }

    func testShapeAndDtypeRequests() throws {
        let data = try SafeTensorsFile(tensors: [
            SafeTensorsEntry(name: "w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
            SafeTensorsEntry(name: "d", shape: [1], doubles: [1]),
        ]).serialized()
        let parsed = try parse(data)
        assertRejects(["checkpoint.safetensors", "tensor \"w\" has shape [2, 3], expected [3, 2]"]) {
            try parsed.floats(named: "w", shape: [3, 2])
        }
        assertRejects(["checkpoint.safetensors", "tensor \"d\" has dtype F64, expected F32"]) {
            try parsed.floats(named: "d", shape: [1])
        }
        assertRejects(["checkpoint.safetensors", "no tensor named \"nope\""]) { try parsed.floats(named: "nope", shape: [1]) }
        assertRejects(["has dtype F32, expected I64"]) { try parsed.entry(named: "w").int64s() }
    }

    /// A random index inside the header region, if the data still has one.
    func headerIndex(_ count: Int, _ headerLength: Int, _ rng: inout SplitMix64) -> Int? {
        let end = min(count, 8 + headerLength)
        return end > 8 ? Int.random(in: 8..<end, using: &rng) : nil
    }

    /// Random mutations of a valid file must either parse or throw FileFormatError, never crash.
    func testRandomMutationsNeverCrash() throws {
        let valid = try SafeTensorsTests.sampleFile().serialized()
        let headerLength = Int(valid[0]) | Int(valid[1]) << 8
        var rng = SplitMix64(seed: 0x5AFE_7E45)
        let interesting = Array("{}[]\",:-0123456789e. ".utf8)
        var parsedCount = 0, rejectedCount = 0
        for iteration in 0..<3000 {
            var data = valid
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0:  // flip a bit anywhere
                    let i = Int.random(in: 0..<data.count, using: &rng)
                    data[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                case 1:  // overwrite a header byte with a JSON-significant character
                    if let i = headerIndex(data.count, headerLength, &rng) { data[i] = interesting.randomElement(using: &rng) ?? 0 }
                case 2:  // truncate
                    data = data.prefix(Int.random(in: 0...data.count, using: &rng))
                case 3:  // small edit of the header length
                    if data.count >= 8 { data[0] = data[0] &+ UInt8.random(in: 0...255, using: &rng) }
                case 4:  // random header length
                    if data.count >= 8 {
                        let n = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0..<64, using: &rng)
                        for k in 0..<8 { data[k] = UInt8((n >> (8 * UInt64(k))) & 0xFF) }
                    }
                default:  // delete or insert a byte in the header
                    if let i = headerIndex(data.count, headerLength, &rng) {
                        if Bool.random(using: &rng) { data.remove(at: i) } else { data.insert(interesting.randomElement(using: &rng) ?? 0, at: i) }
                    }
                }
            }
            do {
                let parsed = try SafeTensorsFile(data: data, path: "mutant-\(iteration)")
                parsedCount += 1
                // Whatever parsed must re-serialize and re-parse to the same content.
                let again = try SafeTensorsFile(data: parsed.serialized())
                XCTAssertEqual(again.tensors, parsed.tensors)
                XCTAssertEqual(again.metadata, parsed.metadata)
            } catch let error as FileFormatError {
                rejectedCount += 1
                XCTAssertTrue(error.description.hasPrefix("mutant-\(iteration): "), "\(error)")
            } catch {
                XCTFail("iteration \(iteration): unexpected error type \(type(of: error)): \(error)")
            }
        }
        XCTAssertGreaterThan(rejectedCount, 1000)
        XCTAssertGreaterThan(parsedCount, 10)
    }
}
