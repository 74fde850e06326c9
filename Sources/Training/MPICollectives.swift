import SwiftMPI

/// `Collectives` over an MPI communicator (SwiftMPI).
public final class MPICollectives: Collectives {
    public let communicator: Communicator
    /// The non-blocking reductions, reused so that posting one allocates nothing; the first
    /// `inFlight` are in flight.
    private let pending = (0..<maxPendingReductions).map { _ in Request() }
    private var inFlight = 0

    public init(_ communicator: Communicator) { self.communicator = communicator }

    /// The world communicator of this process (MPI is initialised on first use).
    public static var world: MPICollectives { MPICollectives(.world) }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    public var hostName: String { MPI.processorName }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        try communicator.allreduce(buffer, count: count, op: .sum)
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        try communicator.allreduce(buffer, count: count, op: .sum)
    }

    public func allreduceMax(_ value: Int) throws -> Int {
        Int(try communicator.allreduce(Int64(value), op: .max))
    }

    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        precondition(inFlight < maxPendingReductions, "more than \(maxPendingReductions) reductions in flight")
        try communicator.iallreduce(buffer, count: count, op: .sum, reusing: pending[inFlight])
        inFlight += 1
    }

    public func progressPending() throws {
        for i in 0..<inFlight { _ = try pending[i].test() }
    }

    public func finishPending() throws {
        for i in 0..<inFlight { try pending[i].wait() }
        inFlight = 0
    }

    public func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
                                 layout: BlockLayout) throws {
        try communicator.reduceScatter(send: send, receive: receive, counts: layout.counts32, op: .sum)
    }

    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Float>, layout: BlockLayout) throws {
        try communicator.allgatherInPlace(buffer, counts: layout.counts32, displacements: layout.offsets32)
    }

    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Double>, layout: BlockLayout) throws {
        try communicator.allgatherInPlace(buffer, counts: layout.counts32, displacements: layout.offsets32)
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        try communicator.broadcast(bytes: bytes, root: root)
    }

    public func allgather(_ value: Int64) throws -> [Int64] { try communicator.allgather([value]) }
    public func allgather(bytes: [UInt8]) throws -> [UInt8] { try communicator.allgather(bytes) }
    public func barrier() throws { try communicator.barrier() }

    public func abort(code: Int32) -> Never {
        if size > 1 { MPI.abort(communicator, code: code) }
        MPI.finalize()
        exit(code)
    }
}

#if canImport(Glibc)
import Glibc
#endif
