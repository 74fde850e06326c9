/// What a training step needs from the group of ranks it runs in: sum all-reduces of gradient
/// buffers (blocking, or one non-blocking reduction in flight), small agreements, broadcasts and
/// gathers. Implemented over MPI (`MPICollectives`) and in-process by threads
/// (`LocalCollectives`), so trainers never name MPI and rank-count behaviour is unit-testable.
public protocol Collectives: AnyObject {
    /// This rank's index in 0..<size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// The node this rank runs on (for `ranks.json`).
    var hostName: String { get }

    /// In-place sum over ranks of `count` values at `buffer`.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    /// In-place sum over ranks of `count` values at `buffer`.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
    /// The largest `value` over ranks.
    func allreduceMax(_ value: Int) throws -> Int

    /// Start an in-place sum over ranks of `count` values at `buffer` without waiting. Up to
    /// `maxPendingReductions` may be in flight (on disjoint buffers, started in the same order
    /// on every rank); each buffer must stay untouched until `finishPending`.
    func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    /// Let the in-flight reductions progress (non-blocking tests); no effect when none.
    func progressPending() throws
    /// Wait for every in-flight reduction; no effect when none.
    func finishPending() throws

    /// The sum over ranks of the whole buffer `send` (`layout.count` values), of which this rank
    /// receives only its block of `layout` in `receive` (reduce-scatter).
    func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>, layout: BlockLayout) throws
    /// Every rank's block of `layout`, already in place at its offset in `buffer`, to every rank
    /// (in-place all-gather).
    func allgatherBlocks(_ buffer: UnsafeMutablePointer<Float>, layout: BlockLayout) throws
    /// `allgatherBlocks` for doubles.
    func allgatherBlocks(_ buffer: UnsafeMutablePointer<Double>, layout: BlockLayout) throws

    /// Root's `bytes` on every rank.
    func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8]
    /// Every rank's `value`, in rank order.
    func allgather(_ value: Int64) throws -> [Int64]
    /// Every rank's `bytes` (all of the same length), concatenated in rank order.
    func allgather(bytes: [UInt8]) throws -> [UInt8]
    /// Wait until every rank has arrived.
    func barrier() throws
    /// End every rank of the job now (after an error one rank met alone, while the others may
    /// wait in a collective).
    func abort(code: Int32) -> Never
}

/// How many non-blocking reductions may be in flight at once (gradient buckets).
public let maxPendingReductions = 32

extension Collectives {
    /// Whether this is rank 0, the rank that logs and writes files.
    public var isRoot: Bool { rank == 0 }

    /// A string from `root` on every rank.
    public func broadcast(_ string: String, root: Int) throws -> String {
        String(decoding: try broadcast(Array(string.utf8), root: root), as: UTF8.self)
    }

    /// Every rank's `string`, in rank order (any lengths).
    public func allgather(_ string: String) throws -> [String] {
        let bytes = Array(string.utf8)
        let width = Int(try allgather(Int64(bytes.count)).max() ?? 0)
        let all = try allgather(bytes: bytes + [UInt8](repeating: 0, count: width - bytes.count))
        return (0..<size).map { r in
            String(decoding: all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Whether `flag` holds on any rank.
    public func any(_ flag: Bool) throws -> Bool { try allreduceMax(flag ? 1 : 0) > 0 }
}
