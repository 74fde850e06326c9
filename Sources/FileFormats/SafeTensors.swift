import Foundation

/// A safetensors file: string metadata plus named tensors.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
/// Reading validates everything (sizes, offsets, coverage, duplicates) before copying tensor data.
public struct SafeTensorsFile: Sendable {
    /// Largest header accepted, as in the reference implementation.
    public static let maxHeaderBytes = 100_000_000

    /// The `__metadata__` string map.
    public var metadata: [String: String]
    /// Tensors by name.
    public private(set) var tensors: [String: SafeTensorsEntry]
    /// Tensor names in file (data offset) order for parsed files, insertion order otherwise.
    public private(set) var names: [String]
    /// The file this was read from, or `"<memory>"`; used in error messages.
    public let path: String

    /// Creates a file from entries; duplicate names are rejected.
    public init(tensors: [SafeTensorsEntry] = [], metadata: [String: String] = [:]) throws {
        self.metadata = metadata
        self.tensors = [:]
        self.names = []
        self.path = FileFormatError.inMemory
        for entry in tensors {
            guard self.tensors[entry.name] == nil else {
                throw FileFormatError(path: path, "duplicate tensor name \"\(entry.name)\"")
            }
            insert(entry)
        }
    }

    /// Adds `entry`, replacing (in place) any tensor with the same name.
    public mutating func insert(_ entry: SafeTensorsEntry) {
        if tensors.updateValue(entry, forKey: entry.name) == nil { names.append(entry.name) }
    }

    /// Reads and validates the file at `path`.
    public init(path: String) throws {
        try self.init(data: try readWholeFile(path), path: path)
    }

    /// Parses and validates safetensors bytes; `path` is only used in error messages.
    public init(data: Data, path: String = FileFormatError.inMemory) throws {
        self.path = path
        (metadata, tensors, names) = try data.withUnsafeBytes { try SafeTensorsFile.parse($0, path: path) }
    }

    /// The entry named `name`, or an error naming the file and the missing tensor.
    public func entry(named name: String) throws -> SafeTensorsEntry {
        guard let entry = tensors[name] else {
            throw FileFormatError(path: path, "no tensor named \"\(name)\" (file has \(names.count) tensors)")
        }
        return entry
    }

    /// The values of the F32 tensor `name`, which must have exactly `shape`.
    public func floats(named name: String, shape: [Int]) throws -> [Float] {
        let entry = try checked(name, shape)
        return try entry.floats()
    }

    /// The values of the F64 tensor `name`, which must have exactly `shape`.
    public func doubles(named name: String, shape: [Int]) throws -> [Double] {
        try checked(name, shape).doubles()
    }

    /// The values of the I64 tensor `name`, which must have exactly `shape`.
    public func int64s(named name: String, shape: [Int]) throws -> [Int64] {
        try checked(name, shape).int64s()
    }

    private func checked(_ name: String, _ shape: [Int]) throws -> SafeTensorsEntry {
        var entry = try entry(named: name)
        guard entry.shape == shape else {
            throw FileFormatError(path: path,
                "tensor \"\(name)\" has shape \(shapeString(entry.shape)), expected \(shapeString(shape))")
        }
        entry.source = path
        return entry
    }

    // MARK: Writing

    /// The file bytes. Tensors are laid out by decreasing element size, then by name (so every
    /// tensor is naturally aligned); the header is space-padded to a multiple of 8 bytes.
    public func serialized() -> Data {
        let ordered = tensors.values.sorted {
            $0.dtype.byteSize != $1.dtype.byteSize ? $0.dtype.byteSize > $1.dtype.byteSize : $0.name < $1.name
        }
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { header += "," }
                appendJSONString(key, to: &header)
                header += ":"
                appendJSONString(metadata[key] ?? "", to: &header)
            }
            header += "}"
            first = false
        }
        var offset = 0
        for entry in ordered {
            if !first { header += "," }
            first = false
            appendJSONString(entry.name, to: &header)
            header += ":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":["
            header += entry.shape.map(String.init).joined(separator: ",")
            header += "],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}"
            offset += entry.bytes.count
        }
        header += "}"
        var headerBytes = Data(header.utf8)
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))

        var out = Data(capacity: 8 + headerBytes.count + offset)
        out.append(contentsOf: withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) })
        out.append(headerBytes)
        for entry in ordered { out.append(entry.bytes) }
        return out
    }

    /// Writes `serialized()` to `path` atomically.
    public func write(to path: String) throws {
        try AtomicFile.write(serialized(), to: path)
    }

    // MARK: Parsing

    private struct Pending {
        let name: String
        let dtype: SafeTensorsDType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    private static func parse(_ raw: UnsafeRawBufferPointer, path: String)
        throws -> ([String: String], [String: SafeTensorsEntry], [String]) {
        func fail(_ message: String) -> FileFormatError { FileFormatError(path: path, message) }

        guard raw.count >= 8 else {
            throw fail("file is \(raw.count) bytes, too short for the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for i in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(raw[i]) }
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard headerLength <= UInt64(raw.count - 8) else {
            throw fail("header length \(headerLength) exceeds file size \(raw.count)")
        }
        let headerEnd = 8 + Int(headerLength)
        let bufferSize = raw.count - headerEnd
        let json = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: raw[8..<headerEnd]), path: path, what: "header")
        guard case let .object(members) = json else {
            throw fail("header is a JSON \(json.kind), expected an object")
        }

        var metadata: [String: String]?
        var pending: [Pending] = []
        var seen = Set<String>()
        for (key, value) in members {
            guard seen.insert(key).inserted else {
                throw fail(key == "__metadata__" ? "duplicate __metadata__ entry" : "duplicate tensor name \"\(key)\"")
            }
            if key == "__metadata__" {
                metadata = try parseMetadata(value, fail)
            } else {
                pending.append(try parseTensorInfo(key, value, bufferSize: bufferSize, fail))
            }
        }

        // Tensors must tile the buffer exactly: no overlaps, no gaps, nothing left over.
        pending.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        var previous: String?
        for t in pending {
            if t.begin < covered {
                throw fail("tensor \"\(t.name)\" data_offsets [\(t.begin), \(t.end)] overlap tensor \"\(previous ?? "")\"")
            }
            if t.begin > covered {
                throw fail("gap in data buffer: bytes \(covered)..<\(t.begin) before tensor \"\(t.name)\" belong to no tensor")
            }
            covered = t.end
            previous = t.name
        }
        if covered != bufferSize {
            throw fail("data buffer is \(bufferSize) bytes but tensors cover only \(covered) (gap or trailing bytes)")
        }

        var tensors: [String: SafeTensorsEntry] = [:]
        tensors.reserveCapacity(pending.count)
        for t in pending {
            let bytes = Data(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + t.begin)..<(headerEnd + t.end)]))
            var entry = try SafeTensorsEntry(name: t.name, dtype: t.dtype, shape: t.shape, bytes: bytes)
            entry.source = path
            tensors[t.name] = entry
        }
        return (metadata ?? [:], tensors, pending.map(\.name))
    }

    private static func parseMetadata(_ value: JSONValue, _ fail: (String) -> FileFormatError) throws -> [String: String] {
        if case .null = value { return [:] }
        guard case let .object(members) = value else {
            throw fail("__metadata__ is a JSON \(value.kind), expected an object of strings")
        }
        var result: [String: String] = [:]
        for (key, v) in members {
            guard case let .string(s) = v else {
                throw fail("__metadata__ value for \"\(key)\" is a JSON \(v.kind), expected a string")
            }
            guard result.updateValue(s, forKey: key) == nil else {
                throw fail("duplicate __metadata__ key \"\(key)\"")
            }
        }
        return result
    }

    private static func parseTensorInfo(_ name: String, _ value: JSONValue, bufferSize: Int,
                                        _ fail: (String) -> FileFormatError) throws -> Pending {
        let label = "tensor \"\(name)\""
        guard case let .object(fields) = value else {
            throw fail("\(label) is a JSON \(value.kind), expected an object")
        }
        var dtypeValue: JSONValue?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (key, v) in fields {
            switch key {
            case "dtype": dtypeValue = v
            case "shape": shapeValue = v
            case "data_offsets": offsetsValue = v
            default: break  // unknown fields are ignored, like the reference implementation
            }
        }
        guard case let .string(dtypeName)? = dtypeValue else { throw fail("\(label): missing or non-string \"dtype\"") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw fail("\(label): unknown dtype \"\(dtypeName)\"")
        }
        guard case let .array(shapeItems)? = shapeValue else { throw fail("\(label): missing or non-array \"shape\"") }
        var shape: [Int] = []
        for item in shapeItems {
            guard case let .integer(d) = item, d >= 0 else {
                throw fail("\(label): shape entries must be non-negative integers")
            }
            shape.append(d)
        }
        guard let count = checkedProduct(shape),
              case let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize), !overflow,
              byteCount <= bufferSize else {
            throw fail("\(label): shape \(shapeString(shape)) of \(dtype.rawValue) is larger than the \(bufferSize)-byte data buffer")
        }
        guard case let .array(offsetItems)? = offsetsValue, offsetItems.count == 2,
              case let .integer(begin) = offsetItems[0], case let .integer(end) = offsetItems[1],
              begin >= 0, begin <= end else {
            throw fail("\(label): data_offsets must be two non-decreasing non-negative integers")
        }
        guard end <= bufferSize else {
            throw fail("\(label): data_offsets [\(begin), \(end)] past the end of the \(bufferSize)-byte data buffer")
        }
        guard end - begin == byteCount else {
            throw fail("\(label): data_offsets [\(begin), \(end)] span \(end - begin) bytes but shape \(shapeString(shape)) of \(dtype.rawValue) needs \(byteCount)")
        }
        return Pending(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }
}
