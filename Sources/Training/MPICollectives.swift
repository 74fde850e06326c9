import SwiftMPI

/// `Collectives` over an MPI communicator (SwiftMPI).
public final class MPICollectives: Collectives {
    public let communicator: Communicator
    /// The in-flight non-blocking reduction, reused so that posting one allocates nothing.
    private let pending = Request()

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
        try communicator.iallreduce(buffer, count: count, op: .sum, reusing: pending)
    }

    public func progressPending() throws { _ = try pending.test() }
    public func finishPending() throws { try pending.wait() }

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
