import CMPI

/// Process-wide MPI state: initialisation and finalisation happen exactly once.
///
/// `MPI.initialize()` may be called any number of times; only the first call initialises MPI.
/// A program started without `mpirun` becomes a single-rank job (MPI singleton), which is how
/// the trainer runs for local debugging.
public enum MPI {
    nonisolated(unsafe) private static var initializedByUs = false

    /// Whether `MPI_Init` has been called (by us or by anyone else in the process).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// Whether `MPI_Finalize` has been called.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// Initialise MPI once (funneled threading: only the main thread calls MPI) and make every
    /// error on the world communicator return to the caller, where it becomes a Swift error.
    public static func initialize() throws {
        if isInitialized { return }
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided))
        initializedByUs = true
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()))
        try check(MPI_Comm_set_errhandler(cmpi_comm_self(), cmpi_errors_return()))
    }

    /// Finalise MPI once, if it was initialised and is not yet finalised.
    public static func finalize() {
        guard isInitialized, !isFinalized else { return }
        MPI_Finalize()
    }

    /// Abort every rank of `comm` with `code`. For unrecoverable states only: it never returns.
    public static func abort(_ comm: Communicator = .world, code: Int32 = 1) -> Never {
        MPI_Abort(comm.handle, code)
        fatalError("MPI_Abort returned")
    }

    /// Wall-clock time in seconds (`MPI_Wtime`).
    public static func wallTime() -> Double { MPI_Wtime() }

    /// The name of the node this process runs on (`MPI_Get_processor_name`).
    public static var processorName: String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        MPI_Get_processor_name(&buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The MPI library's version string.
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: 8192)
        var length: Int32 = 0
        MPI_Get_library_version(&buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Throws `MPIError` unless `code` is `MPI_SUCCESS`.
    @inlinable
    public static func check(_ code: Int32) throws {
        if code != MPI_SUCCESS { throw MPIError(code: code) }
    }
}

/// An MPI call that failed, with MPI's own description of the error.
public struct MPIError: Error, CustomStringConvertible, Equatable {
    /// The MPI error code.
    public let code: Int32
    /// The MPI error class (`MPI_ERR_ROOT`, `MPI_ERR_COUNT`, ...).
    public let errorClass: Int32
    /// MPI's error string.
    public let message: String

    public init(code: Int32) {
        self.code = code
        var cls: Int32 = 0
        MPI_Error_class(code, &cls)
        errorClass = cls
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { "MPI error \(code): \(message)" }
}
