import Foundation

/// An array read from an IDX file (the MNIST layout): dimensions, type code and raw element bytes.
public struct IDXArray: Equatable, Sendable {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    public let dims: [Int]
    /// IDX type code: `IDX.unsignedByte` (0x08) or `IDX.float32` (0x0D).
    public let dataType: UInt8
    /// Raw element bytes as stored (big-endian for float32).
    public let bytes: [UInt8]

    /// Number of elements (product of `dims`).
    public var elementCount: Int { bytes.count / IDX.elementSize(dataType) }

    /// The elements of a float32 (0x0D) array, converted from big-endian.
    public func floats() throws -> [Float] {
        guard dataType == IDX.float32 else {
            throw FileFormatError(path: FileFormatError.inMemory, "IDX array has type 0x\(hex(dataType)), not float32 (0x0D)")
        }
        return decodeArray(Data(bytes), as: UInt32.self, bigEndian: true).map(Float.init(bitPattern:))
    }
}

/// Reader and writer for IDX files, raw or gzip-compressed.
public enum IDX {
    /// Type code for unsigned bytes.
    public static let unsignedByte: UInt8 = 0x08
    /// Type code for big-endian IEEE float32.
    public static let float32: UInt8 = 0x0D

    static func elementSize(_ type: UInt8) -> Int { type == float32 ? 4 : 1 }

    /// Reads an IDX file; gzip input (starting with 1f 8b) is decompressed, capped at 2 GiB.
    public static func read(path: String) throws -> IDXArray {
        try decode(data: readWholeFile(path), path: path)
    }

    /// Parses IDX bytes (raw or gzip); `path` is only used in error messages.
    public static func decode(data: Data, path: String = FileFormatError.inMemory) throws -> IDXArray {
        let raw = isGzip(data) ? try gunzip(data, path: path) : (data.startIndex == 0 ? data : Data(data))
        func fail(_ m: String) -> FileFormatError { FileFormatError(path: path, m) }
        guard raw.count >= 4 else { throw fail("only \(raw.count) bytes, too short for the 4-byte IDX magic number") }
        guard raw[0] == 0, raw[1] == 0 else {
            throw fail("bad IDX magic number 0x\(raw.prefix(4).map(hex).joined()) (first two bytes must be zero)")
        }
        let type = raw[2]
        guard type == unsignedByte || type == float32 else {
            throw fail("unsupported IDX data type 0x\(hex(type)) (supported: 0x08 unsigned byte, 0x0D float32)")
        }
        let ndim = Int(raw[3])
        guard (1...4).contains(ndim) else { throw fail("number of dimensions is \(ndim), expected 1 to 4") }
        let headerSize = 4 + 4 * ndim
        guard raw.count >= headerSize else {
            throw fail("truncated IDX header: \(ndim) dimensions need \(headerSize) bytes, file has \(raw.count)")
        }
        let dims = (0..<ndim).map { Int(readBigEndian(raw, 4 + 4 * $0)) }
        let remaining = raw.count - headerSize
        let described = dims.map(String.init).joined(separator: "x")
        guard let count = checkedProduct(dims + [elementSize(type)]) else {
            throw fail("header says \(described) elements, which overflows")
        }
        guard count == remaining else {
            throw fail("header says \(described) = \(count) bytes but \(remaining) remain")
        }
        return IDXArray(dims: dims, dataType: type, bytes: [UInt8](raw[headerSize...]))
    }

    /// Encodes an IDX file (`dims.count` 1 to 4, element bytes as stored, big-endian for float32).
    public static func encode(dims: [Int], bytes: [UInt8], dataType: UInt8 = unsignedByte) throws -> Data {
        func fail(_ m: String) -> FileFormatError { FileFormatError(path: FileFormatError.inMemory, "IDX: \(m)") }
        guard dataType == unsignedByte || dataType == float32 else { throw fail("unsupported data type 0x\(hex(dataType))") }
        guard (1...4).contains(dims.count) else { throw fail("\(dims.count) dimensions, expected 1 to 4") }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int(UInt32.max) }) else { throw fail("dimension out of range") }
        guard let count = checkedProduct(dims + [elementSize(dataType)]), count == bytes.count else {
            throw fail("dims \(shapeString(dims)) do not match \(bytes.count) bytes")
        }
        var out = Data([0, 0, dataType, UInt8(dims.count)])
        for d in dims { appendBigEndian(UInt32(d), to: &out) }
        out.append(contentsOf: bytes)
        return out
    }

    /// Writes an IDX file atomically, gzip-compressed if `gzip` is true.
    public static func write(path: String, dims: [Int], bytes: [UInt8], dataType: UInt8 = unsignedByte,
                             gzip compress: Bool = false) throws {
        let data = try encode(dims: dims, bytes: bytes, dataType: dataType)
        try AtomicFile.write(compress ? try gzip(data) : data, to: path)
    }
}

func hex(_ byte: UInt8) -> String {
    let s = String(byte, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}
