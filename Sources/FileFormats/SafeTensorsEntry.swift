import Foundation

/// Element types of the safetensors format (the byte-sized ones of the reference implementation).
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .I64, .U64, .F64: return 8
        }
    }
}

/// One named tensor: element type, shape (empty for a scalar) and raw little-endian bytes.
///
/// The initializers guarantee `bytes.count == elementCount * dtype.byteSize`.
public struct SafeTensorsEntry: Equatable, Sendable {
    /// Tensor name (any string except `__metadata__`).
    public let name: String
    /// Element type.
    public let dtype: SafeTensorsDType
    /// Dimensions, outermost first; `[]` is a scalar with one element.
    public let shape: [Int]
    /// Row-major little-endian element bytes.
    public let bytes: Data
    /// File this entry was read from (for error messages); not part of equality.
    var source: String = FileFormatError.inMemory

    /// Number of elements (product of `shape`).
    public var elementCount: Int { bytes.count / dtype.byteSize }

    /// Creates an entry from raw little-endian bytes, checking the name, shape and byte count.
    public init(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: Data) throws {
        let memory = FileFormatError.inMemory
        guard name != "__metadata__" else {
            throw FileFormatError(path: memory, "tensor name \"__metadata__\" is reserved")
        }
        guard let count = checkedProduct(shape),
              case let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize), !overflow else {
            throw FileFormatError(path: memory, "tensor \"\(name)\": invalid shape \(shapeString(shape))")
        }
        guard bytes.count == expected else {
            throw FileFormatError(path: memory,
                "tensor \"\(name)\": shape \(shapeString(shape)) of \(dtype.rawValue) needs \(expected) bytes, got \(bytes.count)")
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes.startIndex == 0 ? bytes : Data(bytes)
    }

    /// An F32 tensor; `floats.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], floats: [Float]) throws {
        try self.init(name: name, dtype: .F32, shape: shape, bytes: littleEndianData(floats))
    }

    /// An F64 tensor; `doubles.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], doubles: [Double]) throws {
        try self.init(name: name, dtype: .F64, shape: shape, bytes: littleEndianData(doubles))
    }

    /// An I32 tensor; `int32s.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], int32s: [Int32]) throws {
        try self.init(name: name, dtype: .I32, shape: shape, bytes: littleEndianData(int32s))
    }

    /// An I64 tensor; `int64s.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], int64s: [Int64]) throws {
        try self.init(name: name, dtype: .I64, shape: shape, bytes: littleEndianData(int64s))
    }

    /// A U8 tensor; `uint8s.count` must equal the product of `shape`.
    public init(name: String, shape: [Int], uint8s: [UInt8]) throws {
        try self.init(name: name, dtype: .U8, shape: shape, bytes: Data(uint8s))
    }

    /// The elements of an F32 tensor.
    public func floats() throws -> [Float] { try values(.F32, Float.self) }
    /// The elements of an F64 tensor.
    public func doubles() throws -> [Double] { try values(.F64, Double.self) }
    /// The elements of an I32 tensor.
    public func int32s() throws -> [Int32] { try values(.I32, Int32.self) }
    /// The elements of an I64 tensor.
    public func int64s() throws -> [Int64] { try values(.I64, Int64.self) }
    /// The elements of a U8 tensor.
    public func uint8s() throws -> [UInt8] { try values(.U8, UInt8.self) }

    private func values<T: BitwiseCopyable>(_ wanted: SafeTensorsDType, _ type: T.Type) throws -> [T] {
        guard dtype == wanted else {
            throw FileFormatError(path: source, "tensor \"\(name)\" has dtype \(dtype.rawValue), expected \(wanted.rawValue)")
        }
        return decodeArray(bytes, as: type)
    }

    public static func == (a: SafeTensorsEntry, b: SafeTensorsEntry) -> Bool {
        a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.bytes == b.bytes
    }
}
