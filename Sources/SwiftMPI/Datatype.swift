import CMPI

/// A Swift scalar type with a matching predefined MPI datatype.
public protocol MPIDatatype {
    /// The MPI datatype handle.
    static var mpiDatatype: MPI_Datatype { get }
}

extension Float: MPIDatatype { public static var mpiDatatype: MPI_Datatype { cmpi_float() } }
extension Double: MPIDatatype { public static var mpiDatatype: MPI_Datatype { cmpi_double() } }
extension Int32: MPIDatatype { public static var mpiDatatype: MPI_Datatype { cmpi_int32() } }
extension Int64: MPIDatatype { public static var mpiDatatype: MPI_Datatype { cmpi_int64() } }
extension UInt8: MPIDatatype { public static var mpiDatatype: MPI_Datatype { cmpi_uint8() } }

/// A reduction operation for all-reduce.
public enum ReductionOp: Sendable {
    case sum, max, min

    var handle: MPI_Op {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }
}

/// A heap buffer with reference identity, for non-blocking operations: a `Request` keeps the
/// buffer it works on alive until it completes.
public final class MPIBuffer<T: MPIDatatype> {
    /// The elements. Do not read or write them while a request on this buffer is pending.
    public let storage: UnsafeMutableBufferPointer<T>

    /// A buffer of `count` copies of `value`.
    public init(repeating value: T, count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: value)
    }

    /// A buffer holding a copy of `values`.
    public init(_ values: [T]) {
        storage = .allocate(capacity: values.count)
        _ = storage.initialize(from: values)
    }

    deinit { storage.deallocate() }

    /// Number of elements.
    public var count: Int { storage.count }
    /// A copy of the elements as an array.
    public var array: [T] { Array(storage) }
    public subscript(i: Int) -> T {
        get { storage[i] }
        set { storage[i] = newValue }
    }
}
