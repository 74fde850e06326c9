import Foundation

/// `Collectives` of a job of one rank, without MPI: every sum over ranks is the rank's own
/// value, so each operation leaves its buffer as it is (what MPI computes on one rank, bit for
/// bit). `emd` uses it when no MPI launcher started the process, which spares a single-rank run
/// MPI's singleton start-up (a helper daemon, about 0.3 s). Allocates nothing per reduction.
public final class SingleProcessCollectives: Collectives {
    public let rank = 0
    public let size = 1
    public let hostName: String

    public init(hostName: String = ProcessInfo.processInfo.hostName) { self.hostName = hostName }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
    public func allreduceMax(_ value: Int) throws -> Int { value }

    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func progressPending() throws {}
    public func finishPending() throws {}

    public func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
                                 layout: BlockLayout) throws {
        precondition(layout.ranks == 1, "a one-rank job has one block")
        receive.update(from: send, count: layout.count)
    }

    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Float>, layout: BlockLayout) throws {}
    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Double>, layout: BlockLayout) throws {}

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] { bytes }
    public func allgather(_ value: Int64) throws -> [Int64] { [value] }
    public func allgather(bytes: [UInt8]) throws -> [UInt8] { bytes }
    public func barrier() throws {}

    public func abort(code: Int32) -> Never { exit(code) }
}

/// Whether an MPI launcher started a process with environment `env` (mpirun or mpiexec of Open
/// MPI or MPICH, srun with a PMI or PMIx plugin), from the variables launchers set for their
/// ranks. `EMD_MPI=1` forces MPI (a launcher this list does not know), `EMD_MPI=0` forbids it.
public func launchedByMPI(_ env: [String: String]) -> Bool {
    switch env["EMD_MPI"] {
    case "1": return true
    case "0": return false
    default:
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"].contains { env[$0] != nil }
    }
}
