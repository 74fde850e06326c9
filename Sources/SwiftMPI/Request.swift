import CMPI

/// A pending non-blocking operation. It holds the buffers it works on until it completes;
/// dropping an incomplete request waits for it, so a buffer is never freed under MPI.
public final class Request {
    private var handle: MPI_Request?
    private var keepAlive: [AnyObject]
    /// Whether the operation has completed (through `wait` or a successful `test`).
    public private(set) var isComplete = false

    init(handle: MPI_Request?, keepAlive: [AnyObject]) {
        self.handle = handle
        self.keepAlive = keepAlive
    }

    /// A completed, empty request to be reused by `Communicator.iallreduce(_:count:op:reusing:)`,
    /// so a training loop posts non-blocking operations without allocating.
    public convenience init() {
        self.init(handle: cmpi_request_null(), keepAlive: [])
        isComplete = true
    }

    /// Point this completed request at a newly started operation.
    func restart(_ newHandle: MPI_Request?) {
        precondition(isComplete, "reusing a request that has not completed")
        handle = newHandle
        isComplete = false
    }

    /// Block until the operation completes.
    public func wait() throws {
        if isComplete { return }
        let code = MPI_Wait(&handle, cmpi_status_ignore())
        finish()
        try MPI.check(code)
    }

    /// Whether the operation has completed, without blocking.
    public func test() throws -> Bool {
        if isComplete { return true }
        var flag: Int32 = 0
        let code = MPI_Test(&handle, &flag, cmpi_status_ignore())
        if code != MPI_SUCCESS { finish(); throw MPIError(code: code) }
        if flag != 0 { finish() }
        return isComplete
    }

    /// Wait for every request in `requests`.
    public static func waitAll(_ requests: [Request]) throws {
        for r in requests { try r.wait() }
    }

    private func finish() {
        isComplete = true
        keepAlive.removeAll()
    }

    deinit {
        if !isComplete && !MPI.isFinalized { MPI_Wait(&handle, cmpi_status_ignore()) }
    }
}
