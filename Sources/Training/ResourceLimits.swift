#if canImport(Glibc)
import Glibc
#endif

/// Bounds on sizes that come from flags, configs and files, checked before anything is
/// allocated: overflow-checked products and an estimate of the memory a run needs against the
/// machine's physical memory, so an impossible size is refused with its bound named instead
/// of crashing the process.
public enum ResourceLimits {
    /// A lower memory limit for a run, in bytes (the CLI sets it from `EMD_MEMORY_LIMIT_MB`, for
    /// shared nodes and tests); nil: physical memory.
    nonisolated(unsafe) public static var memoryLimitOverride: Int?

    /// The memory a run may use: physical memory, or the override when that is lower.
    public static var memoryLimit: Int { min(physicalMemory, memoryLimitOverride ?? Int.max) }

    /// Physical memory of this machine in bytes.
    public static var physicalMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : bytes
    }

    /// `value` in `range`, or an error naming `name` and the bound.
    public static func check<T: Comparable>(_ name: String, _ value: T, in range: ClosedRange<T>) throws {
        guard range.contains(value) else {
            throw ConfigError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }

    /// The product of `factors`, or nil when it overflows or a factor is negative.
    public static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (r, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = r
        }
        return p
    }

    /// Refuse a run whose estimated memory, `floats` 4-byte values (nil: too many to count),
    /// exceeds `memoryLimit`.
    public static func checkMemory(floats: Int?, what: String) throws {
        let limit = memoryLimit
        guard let floats, let bytes = product([floats, 4]), bytes <= limit else {
            let need = floats.map { String(format: "%.1f GiB", Double($0) * 4 / 1_073_741_824) } ?? "more than can be counted"
            throw ConfigError("\(what) needs about \(need) of memory per rank; this machine has "
                              + String(format: "%.1f GiB", Double(limit) / 1_073_741_824) + ": use a smaller batch or more ranks")
        }
    }
}
