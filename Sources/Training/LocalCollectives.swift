import Foundation

/// `Collectives` for N simulated ranks in one process, each rank a thread. Sums are taken in
/// rank order, as a reference for what MPI computes up to summation order, so rank-count
/// invariance of a trainer can be unit-tested without mpirun. For tests and tools: a rank that
/// throws while others wait in a collective ends the process (`abort`).
public final class LocalCollectives: Collectives {
    public let rank: Int
    public var size: Int { group.size }
    public var hostName: String { "local-\(rank)" }
    let group: LocalGroup
    private var pending: [(UnsafeMutablePointer<Float>, Int)] = []

    init(rank: Int, group: LocalGroup) {
        self.rank = rank
        self.group = group
    }

    /// Run `body` on `ranks` threads, each with its own rank's collectives; returns each rank's
    /// result in rank order, or rethrows the first rank's error.
    public static func run<T>(ranks: Int, _ body: @escaping (LocalCollectives) throws -> T) throws -> [T] {
        precondition(ranks >= 1)
        let group = LocalGroup(size: ranks)
        let results = LockedResults<T>(count: ranks)
        let done = DispatchGroup()
        let work = UncheckedBox(body)
        for r in 0..<ranks {
            done.enter()
            let thread = Thread {
                results.set(r, Result { try work.value(LocalCollectives(rank: r, group: group)) })
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return try results.values()
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        group.reduce(rank: rank, UnsafeMutableRawPointer(buffer), count: count, Float.self)
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {
        group.reduce(rank: rank, UnsafeMutableRawPointer(buffer), count: count, Double.self)
    }

    public func allreduceMax(_ value: Int) throws -> Int { try allgather(Int64(value)).map(Int.init).max()! }

    // The simulated reduction runs when it is waited for: the same arithmetic, no overlap.
    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        precondition(pending.count < maxPendingReductions, "more than \(maxPendingReductions) reductions in flight")
        pending.append((buffer, count))
    }

    public func progressPending() throws {}

    public func finishPending() throws {
        let all = pending
        pending.removeAll(keepingCapacity: true)
        for (b, n) in all { try allreduceSum(b, count: n) }
    }

    public func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
                                 layout: BlockLayout) throws {
        group.reduceScatter(rank: rank, UnsafeMutableRawPointer(mutating: send), into: receive, range: layout.range(rank))
    }

    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Float>, layout: BlockLayout) throws {
        group.gatherBlocks(rank: rank, UnsafeMutableRawPointer(buffer), layout: layout, Float.self)
    }

    public func allgatherBlocks(_ buffer: UnsafeMutablePointer<Double>, layout: BlockLayout) throws {
        group.gatherBlocks(rank: rank, UnsafeMutableRawPointer(buffer), layout: layout, Double.self)
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        group.exchange(rank: rank, bytes)[root]
    }

    public func allgather(_ value: Int64) throws -> [Int64] {
        group.exchange(rank: rank, withUnsafeBytes(of: value) { Array($0) }).map { b in
            b.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
        }
    }

    public func allgather(bytes: [UInt8]) throws -> [UInt8] { group.exchange(rank: rank, bytes).flatMap { $0 } }
    public func barrier() throws { group.barrier() }

    public func abort(code: Int32) -> Never {
        Console.error("LocalCollectives: rank \(rank) aborted (code \(code))\n")
        exit(code)
    }
}

/// The shared state of a group of simulated ranks: a generation-counting barrier and one slot
/// per rank for the data being exchanged.
final class LocalGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var slots: [UnsafeMutableRawPointer?]
    private var byteSlots: [[UInt8]]

    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
        byteSlots = Array(repeating: [], count: size)
    }

    func barrier() {
        condition.lock()
        defer { condition.unlock() }
        let gen = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while gen == generation { condition.wait() }
        }
    }

    /// Sum over ranks in rank order, in place: post, read everyone's buffer, then write.
    func reduce<T: FloatingPoint>(rank: Int, _ buffer: UnsafeMutableRawPointer, count: Int, _: T.Type) {
        condition.lock(); slots[rank] = buffer; condition.unlock()
        barrier()
        var sum = [T](repeating: 0, count: count)
        for r in 0..<size {
            condition.lock(); let p = slots[r]!.assumingMemoryBound(to: T.self); condition.unlock()
            for i in 0..<count { sum[i] += p[i] }
        }
        barrier()
        sum.withUnsafeBufferPointer { buffer.assumingMemoryBound(to: T.self).update(from: $0.baseAddress!, count: count) }
        barrier()
    }

    /// Sum over ranks in rank order of `range` of every rank's buffer, into `receive`.
    func reduceScatter(rank: Int, _ buffer: UnsafeMutableRawPointer, into receive: UnsafeMutablePointer<Float>, range: Range<Int>) {
        condition.lock(); slots[rank] = buffer; condition.unlock()
        barrier()
        receive.update(repeating: 0, count: range.count)
        for r in 0..<size {
            condition.lock(); let p = slots[r]!.assumingMemoryBound(to: Float.self); condition.unlock()
            for (j, i) in range.enumerated() { receive[j] += p[i] }
        }
        barrier()
    }

    /// Copy every other rank's block of `layout` from its buffer into this rank's.
    func gatherBlocks<T>(rank: Int, _ buffer: UnsafeMutableRawPointer, layout: BlockLayout, _: T.Type) {
        condition.lock(); slots[rank] = buffer; condition.unlock()
        barrier()
        let mine = buffer.assumingMemoryBound(to: T.self)
        for r in 0..<size where r != rank {
            condition.lock(); let p = slots[r]!.assumingMemoryBound(to: T.self); condition.unlock()
            let block = layout.range(r)
            (mine + block.lowerBound).update(from: p + block.lowerBound, count: block.count)
        }
        barrier()
    }

    /// Every rank's bytes, in rank order.
    func exchange(rank: Int, _ bytes: [UInt8]) -> [[UInt8]] {
        condition.lock(); byteSlots[rank] = bytes; condition.unlock()
        barrier()
        condition.lock(); let all = byteSlots; condition.unlock()
        barrier()
        return all
    }
}

/// Per-rank results collected from the rank threads.
final class LockedResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<T, Error>?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); results[i] = r; lock.unlock() }
    func values() throws -> [T] { try results.map { try $0!.get() } }
}

/// A value handed to the rank threads; the caller guarantees it is safe to share.
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension LocalCollectives {
    /// A group of one rank on the calling thread: training without MPI (tests, tools).
    public static func single() -> LocalCollectives { LocalCollectives(rank: 0, group: LocalGroup(size: 1)) }
}

extension Collectives where Self == LocalCollectives {
    /// A group of one rank on the calling thread.
    public static var single: LocalCollectives { .single() }
}
