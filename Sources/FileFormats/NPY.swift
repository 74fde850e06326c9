import Foundation

/// Reader and writer for NumPy `.npy` files holding little-endian float32 C-order arrays.
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    private static let maxHeaderBytes = 1 << 20

    /// Encodes a float32 array (`values.count` must equal the product of `shape`; `[]` is a scalar).
    public static func encode(shape: [Int], values: [Float]) throws -> Data {
        guard let count = checkedProduct(shape), count == values.count else {
            throw FileFormatError(path: FileFormatError.inMemory,
                                  "NPY: shape \(shapeString(shape)) does not match \(values.count) values")
        }
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Version 1.0 has a 2-byte header length; 2.0 a 4-byte one. Data starts 64-byte aligned.
        let version: UInt8 = header.utf8.count + 1 + 10 + 63 <= 0xFFFF ? 1 : 2
        let prefix = version == 1 ? 10 : 12
        header += String(repeating: " ", count: (64 - (prefix + header.utf8.count + 1) % 64) % 64) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [version, 0])
        let length = header.utf8.count
        out.append(contentsOf: (0..<(version == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
        out.append(contentsOf: header.utf8)
        out.append(littleEndianData(values))
        return out
    }

    /// Encodes like `encode` and writes the result to `path` atomically.
    public static func write(path: String, shape: [Int], values: [Float]) throws {
        try AtomicFile.write(encode(shape: shape, values: values), to: path)
    }

    /// Reads a `.npy` file; see `decode(data:path:)`.
    public static func read(path: String) throws -> (shape: [Int], values: [Float]) {
        try decode(data: readWholeFile(path), path: path)
    }

    /// Decodes a `.npy` array of dtype `<f4` in C order (format versions 1, 2 and 3).
    public static func decode(data: Data, path: String = FileFormatError.inMemory) throws -> (shape: [Int], values: [Float]) {
        let bytes = data.startIndex == 0 ? data : Data(data)
        func fail(_ m: String) -> FileFormatError { FileFormatError(path: path, "NPY: \(m)") }
        guard bytes.count >= 10, bytes.prefix(6).elementsEqual(magic) else { throw fail("missing \\x93NUMPY magic") }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw fail("unsupported format version \(major).\(bytes[7])") }
        let lengthBytes = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthBytes else { throw fail("truncated header") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let headerStart = 8 + lengthBytes
        guard headerLength <= maxHeaderBytes, headerLength <= bytes.count - headerStart else {
            throw fail("header length \(headerLength) exceeds file size \(bytes.count)")
        }
        let dataStart = headerStart + headerLength
        let dict = try HeaderParser.parse(Array(bytes[headerStart..<dataStart]), fail: fail)

        guard case let .string(descr)? = dict["descr"] else { throw fail("header has no 'descr' string") }
        guard descr == "<f4" else { throw fail("unsupported dtype '\(descr)' (only '<f4' float32 little-endian)") }
        guard case let .bool(fortran)? = dict["fortran_order"] else { throw fail("header has no 'fortran_order' flag") }
        guard !fortran else { throw fail("Fortran-order arrays are not supported") }
        guard case let .tuple(items)? = dict["shape"] else { throw fail("header has no 'shape' tuple") }
        var shape: [Int] = []
        for item in items {
            guard case let .int(d) = item, d >= 0 else { throw fail("shape entries must be non-negative integers") }
            shape.append(d)
        }
        guard let count = checkedProduct(shape + [4]) else { throw fail("shape \(shapeString(shape)) overflows") }
        let available = bytes.count - dataStart
        guard available == count else {
            throw fail("shape \(shapeString(shape)) needs \(count) data bytes, file has \(available)")
        }
        return (shape, decodeArray(bytes.subdata(in: dataStart..<bytes.count), as: Float.self))
    }
}

/// Parser for the Python-literal dictionary in a `.npy` header.
private struct HeaderParser {
    enum Value { case string(String), bool(Bool), int(Int), none, tuple([Value]) }

    private let chars: [UInt8]
    private var pos = 0
    private let fail: (String) -> FileFormatError

    static func parse(_ chars: [UInt8], fail: @escaping (String) -> FileFormatError) throws -> [String: Value] {
        var p = HeaderParser(chars: chars, fail: fail)
        p.skipSpace()
        guard p.take(UInt8(ascii: "{")) else { throw fail("header is not a dictionary") }
        var dict: [String: Value] = [:]
        while true {
            p.skipSpace()
            if p.take(UInt8(ascii: "}")) { break }
            guard case let .string(key) = try p.value(depth: 0) else { throw fail("header keys must be strings") }
            p.skipSpace()
            guard p.take(UInt8(ascii: ":")) else { throw fail("expected ':' in header") }
            p.skipSpace()
            dict[key] = try p.value(depth: 0)
            p.skipSpace()
            if p.take(UInt8(ascii: ",")) { continue }
            p.skipSpace()
            guard p.take(UInt8(ascii: "}")) else { throw fail("expected ',' or '}' in header") }
            break
        }
        p.skipSpace()
        guard p.pos == chars.count else { throw fail("unexpected text after header dictionary") }
        return dict
    }

    private init(chars: [UInt8], fail: @escaping (String) -> FileFormatError) {
        self.chars = chars
        self.fail = fail
    }

    private mutating func skipSpace() {
        while pos < chars.count, [0x20, 0x0A, 0x0D, 0x09].contains(chars[pos]) { pos += 1 }
    }

    private mutating func take(_ c: UInt8) -> Bool {
        guard pos < chars.count, chars[pos] == c else { return false }
        pos += 1
        return true
    }

    private mutating func value(depth: Int) throws -> Value {
        guard depth < 16 else { throw fail("header nested too deeply") }
        guard pos < chars.count else { throw fail("header ends unexpectedly") }
        let c = chars[pos]
        if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
            pos += 1
            let start = pos
            while pos < chars.count, chars[pos] != c {
                if chars[pos] == UInt8(ascii: "\\") { throw fail("escapes in header strings are not supported") }
                pos += 1
            }
            guard pos < chars.count else { throw fail("unterminated string in header") }
            pos += 1
            return .string(String(decoding: chars[start..<(pos - 1)], as: UTF8.self))
        }
        if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") {
            let close = c == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            pos += 1
            var items: [Value] = []
            while true {
                skipSpace()
                if take(close) { return .tuple(items) }
                items.append(try value(depth: depth + 1))
                skipSpace()
                if take(UInt8(ascii: ",")) { continue }
                guard take(close) else { throw fail("expected ',' or closing bracket in header") }
                return .tuple(items)
            }
        }
        if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") {
            let negative = c == UInt8(ascii: "-")
            if negative { pos += 1 }
            var n = 0
            var digits = 0
            while pos < chars.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(chars[pos]) {
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(chars[pos] - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw fail("integer too large in header") }
                n = s
                digits += 1
                pos += 1
            }
            guard digits > 0 else { throw fail("invalid number in header") }
            _ = take(UInt8(ascii: "L"))  // Python 2 long suffix
            return .int(negative ? -n : n)
        }
        for (word, result) in [("True", Value.bool(true)), ("False", .bool(false)), ("None", .none)] {
            let w = Array(word.utf8)
            if chars.count - pos >= w.count, Array(chars[pos..<(pos + w.count)]) == w {
                pos += w.count
                return result
            }
        }
        throw fail("unexpected character in header")
    }
}
