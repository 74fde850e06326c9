import CMPI

/// An MPI communicator: a group of ranks and the collectives among them.
///
/// Communicators made by `dup` or `split` are freed when the object is released.
/// Every operation throws `MPIError` on failure (errors return instead of aborting).
public final class Communicator {
    /// The underlying MPI handle.
    public let handle: MPI_Comm
    private let owned: Bool
    /// This process's rank in the communicator.
    public let rank: Int
    /// Number of ranks.
    public let size: Int

    init(handle: MPI_Comm, owned: Bool) throws {
        self.handle = handle
        self.owned = owned
        var r: Int32 = 0, s: Int32 = 0
        try MPI.check(MPI_Comm_rank(handle, &r))
        try MPI.check(MPI_Comm_size(handle, &s))
        rank = Int(r)
        size = Int(s)
    }

    deinit {
        if owned && !MPI.isFinalized {
            var h: MPI_Comm? = handle
            MPI_Comm_free(&h)
        }
    }

    nonisolated(unsafe) private static var worldInstance: Communicator?

    /// `MPI_COMM_WORLD` (initialises MPI on first use).
    public static var world: Communicator {
        if let w = worldInstance { return w }
        do {
            try MPI.initialize()
            let w = try Communicator(handle: cmpi_comm_world(), owned: false)
            worldInstance = w
            return w
        } catch {
            fatalError("MPI initialisation failed: \(error)")
        }
    }

    /// Whether this is rank 0.
    public var isRoot: Bool { rank == 0 }

    /// A duplicate of this communicator, with its own message context.
    public func dup() throws -> Communicator {
        var h: MPI_Comm? = nil
        try MPI.check(MPI_Comm_dup(handle, &h))
        guard let handle = h else { throw MPIError(code: MPI_ERR_COMM) }
        try MPI.check(MPI_Comm_set_errhandler(handle, cmpi_errors_return()))
        return try Communicator(handle: handle, owned: true)
    }

    /// Split into sub-communicators by `color`, ordered by `key`. Returns nil for ranks that
    /// pass `color == nil` (MPI_UNDEFINED).
    public func split(color: Int?, key: Int) throws -> Communicator? {
        var h: MPI_Comm? = nil
        let c = color.map { Int32($0) } ?? cmpi_undefined()
        try MPI.check(MPI_Comm_split(handle, c, Int32(key), &h))
        guard let handle = h, handle != cmpi_comm_null() else { return nil }
        try MPI.check(MPI_Comm_set_errhandler(handle, cmpi_errors_return()))
        return try Communicator(handle: handle, owned: true)
    }

    /// Block until every rank has reached the barrier.
    public func barrier() throws {
        try MPI.check(MPI_Barrier(handle))
    }

    // MARK: All-reduce

    /// In-place all-reduce over a buffer.
    public func allreduce<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp) throws {
        try MPI.check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, Int32(clamping: buffer.count),
                                    T.mpiDatatype, op.handle, handle))
    }

    /// In-place all-reduce over an array.
    public func allreduce<T: MPIDatatype>(_ array: inout [T], op: ReductionOp) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    /// Out-of-place all-reduce: `receive` gets the reduction of every rank's `send`.
    public func allreduce<T: MPIDatatype>(send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>,
                                          op: ReductionOp) throws {
        precondition(receive.count >= send.count, "receive buffer smaller than send buffer")
        try MPI.check(MPI_Allreduce(send.baseAddress, receive.baseAddress, Int32(clamping: send.count),
                                    T.mpiDatatype, op.handle, handle))
    }

    /// Out-of-place all-reduce of an array, returning the result.
    public func allreduce<T: MPIDatatype>(_ values: [T], op: ReductionOp) throws -> [T] {
        var out = values
        try values.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in try allreduce(send: s, receive: r, op: op) }
        }
        return out
    }

    /// All-reduce of one scalar.
    public func allreduce<T: MPIDatatype>(_ value: T, op: ReductionOp) throws -> T {
        try allreduce([value], op: op)[0]
    }

    /// Low-level in-place all-reduce of `count` elements at `pointer`. A negative count is
    /// passed to MPI unchanged, which rejects it with an error.
    public func allreduce<T: MPIDatatype>(_ pointer: UnsafeMutablePointer<T>, count: Int, op: ReductionOp) throws {
        try MPI.check(MPI_Allreduce(cmpi_in_place(), pointer, Int32(clamping: count), T.mpiDatatype, op.handle, handle))
    }

    /// Non-blocking in-place all-reduce. The request keeps `buffer` alive until it completes.
    public func iallreduce<T: MPIDatatype>(_ buffer: MPIBuffer<T>, op: ReductionOp) throws -> Request {
        try iallreduce(buffer.storage.baseAddress!, count: buffer.count, op: op, owner: buffer)
    }

    /// Non-blocking in-place all-reduce of raw memory; `owner` (if any) is retained until completion.
    public func iallreduce<T: MPIDatatype>(_ pointer: UnsafeMutablePointer<T>, count: Int, op: ReductionOp,
                                           owner: AnyObject?) throws -> Request {
        var request: MPI_Request? = cmpi_request_null()
        try MPI.check(MPI_Iallreduce(cmpi_in_place(), pointer, Int32(clamping: count), T.mpiDatatype, op.handle,
                                     handle, &request))
        return Request(handle: request, keepAlive: owner.map { [$0] } ?? [])
    }

    /// Non-blocking in-place all-reduce into a reusable request (which must have completed).
    /// The caller keeps `pointer` valid until the request completes; nothing is allocated.
    public func iallreduce<T: MPIDatatype>(_ pointer: UnsafeMutablePointer<T>, count: Int, op: ReductionOp,
                                           reusing request: Request) throws {
        precondition(request.isComplete, "reusing a request that has not completed")
        var handle: MPI_Request? = cmpi_request_null()
        try MPI.check(MPI_Iallreduce(cmpi_in_place(), pointer, Int32(clamping: count), T.mpiDatatype, op.handle,
                                     self.handle, &handle))
        request.restart(handle)
    }

    // MARK: Broadcast

    /// Broadcast `buffer` from `root` to every rank, in place.
    public func broadcast<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        try MPI.check(MPI_Bcast(buffer.baseAddress, Int32(clamping: buffer.count), T.mpiDatatype,
                                Int32(clamping: root), handle))
    }

    /// Broadcast an array from `root`; every rank's array must have the same count.
    public func broadcast<T: MPIDatatype>(_ array: inout [T], root: Int) throws {
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Non-blocking broadcast; the request keeps `buffer` alive until it completes.
    public func ibroadcast<T: MPIDatatype>(_ buffer: MPIBuffer<T>, root: Int) throws -> Request {
        var request: MPI_Request? = cmpi_request_null()
        try MPI.check(MPI_Ibcast(buffer.storage.baseAddress, Int32(clamping: buffer.count), T.mpiDatatype,
                                 Int32(clamping: root), handle, &request))
        return Request(handle: request, keepAlive: [buffer])
    }

    /// Broadcast a byte string (for example a JSON config) from `root`.
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var count = [Int64(bytes.count)]
        try broadcast(&count, root: root)
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        if count[0] > 0 { try broadcast(&out, root: root) }
        return out
    }

    // MARK: Gather

    /// Gather every rank's `values` (same count on every rank) at `root`, in rank order.
    /// Returns the concatenation on `root` and nil elsewhere.
    public func gather<T: MPIDatatype>(_ values: [T], root: Int) throws -> [T]? {
        let n = values.count
        if rank == root, n > 0 {
            var failure: Int32 = MPI_SUCCESS
            let out = [T](unsafeUninitializedCapacity: n * size) { buf, initialized in
                failure = values.withUnsafeBufferPointer { s in
                    MPI_Gather(s.baseAddress, Int32(clamping: n), T.mpiDatatype, buf.baseAddress, Int32(clamping: n),
                               T.mpiDatatype, Int32(clamping: root), handle)
                }
                initialized = failure == MPI_SUCCESS ? n * size : 0
            }
            try MPI.check(failure)
            return out
        }
        try values.withUnsafeBufferPointer { s in
            try MPI.check(MPI_Gather(s.baseAddress, Int32(clamping: n), T.mpiDatatype, nil, Int32(clamping: n),
                                     T.mpiDatatype, Int32(clamping: root), handle))
        }
        return rank == root ? [] : nil
    }

    /// Gather every rank's `values` (same count on every rank) on every rank, in rank order.
    public func allgather<T: MPIDatatype>(_ values: [T]) throws -> [T] {
        let n = values.count
        guard n > 0 else { return [] }
        var failure: Int32 = MPI_SUCCESS
        let out = [T](unsafeUninitializedCapacity: n * size) { buf, initialized in
            failure = values.withUnsafeBufferPointer { s in
                MPI_Allgather(s.baseAddress, Int32(clamping: n), T.mpiDatatype, buf.baseAddress, Int32(clamping: n),
                              T.mpiDatatype, handle)
            }
            initialized = failure == MPI_SUCCESS ? n * size : 0
        }
        try MPI.check(failure)
        return out
    }

    /// Sum (or other `op`) over ranks of `send` (the whole vector on every rank), of which rank r
    /// receives only its block: `counts[r]` elements, blocks in rank order (`MPI_Reduce_scatter`).
    /// `receive` holds at least `counts[rank]` elements; `counts` has one entry per rank.
    public func reduceScatter<T: MPIDatatype>(send: UnsafePointer<T>, receive: UnsafeMutablePointer<T>,
                                              counts: [Int32], op: ReductionOp) throws {
        guard counts.count == size else { throw MPIError(code: MPI_ERR_COUNT) }
        try counts.withUnsafeBufferPointer { c in
            try MPI.check(MPI_Reduce_scatter(send, receive, c.baseAddress, T.mpiDatatype, op.handle, handle))
        }
    }

    /// In-place all-gather of blocks of different lengths (`MPI_Allgatherv` with `MPI_IN_PLACE`):
    /// rank r's block of `counts[r]` elements already sits at offset `displacements[r]` of
    /// `buffer`; afterwards every rank holds every block.
    public func allgatherInPlace<T: MPIDatatype>(_ buffer: UnsafeMutablePointer<T>, counts: [Int32],
                                                 displacements: [Int32]) throws {
        guard counts.count == size, displacements.count == size else {
            throw MPIError(code: MPI_ERR_COUNT)
        }
        try counts.withUnsafeBufferPointer { c in
            try displacements.withUnsafeBufferPointer { d in
                try MPI.check(MPI_Allgatherv(cmpi_in_place(), 0, T.mpiDatatype, buffer, c.baseAddress, d.baseAddress,
                                             T.mpiDatatype, handle))
            }
        }
    }
}
