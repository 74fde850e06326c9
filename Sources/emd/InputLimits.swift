import ArgumentParser
import Foundation
import Training

/// Bounds on the counts, sizes and step numbers that come from flags or files, and up-front
/// estimates of the memory a run will need.
///
/// The release build is compiled with `-Ounchecked`, so a precondition or an integer overflow
/// check is gone there: a negative `--count` becomes a wild allocation or a segfault. Every size
/// a command takes from outside is therefore checked here with a real `guard ... throw`, and the
/// error names the flag (or file), the value and the bound. Use these in every subcommand:
///
/// ```swift
/// try InputLimits.require(count, "--count", in: InputLimits.counts)
/// let bytes = try InputLimits.bytes(count, dimension, MemoryLayout<Float>.size, copies: 3, what: "--count \(count)")
/// try InputLimits.requireMemory(bytes, for: "\(count) samples of dimension \(dimension)")
/// ```
enum InputLimits {
    /// Sample counts (`sample --count`, `eval --count`): at least one, at most 2^31 - 1 so every
    /// global sample index fits the 32-bit fields of the random-number keys and of file headers.
    static let counts: ClosedRange<Int> = 1...Int(Int32.max)
    /// Noise levels of the multi-step samplers (`--steps` of `sample` and `eval`). Heun with 18
    /// is the usual; 100,000 is far beyond any useful value yet small to allocate.
    static let samplerSteps: ClosedRange<Int> = 1...100_000
    /// Batch sizes (`--batch`): at least one, at most 2^24 samples per step.
    static let batches: ClosedRange<Int> = 1...(1 << 24)
    /// Training step counts (`--steps` of the training commands), 1 to 10^9.
    static let trainingSteps: ClosedRange<Int> = 1...1_000_000_000
    /// Seeds: any non-negative `Int` (they become `UInt64` keys; a negative one would trap).
    static let seeds: ClosedRange<Int> = 0...Int.max

    /// A classifier-free guidance scale (`--guidance`): finite, |w| <= 100.
    static func requireGuidance(_ w: Float) throws {
        guard w.isFinite, abs(w) <= 100 else { throw ValidationError("--guidance must be finite, |w| <= 100") }
    }

    /// Returns `value` if it lies in `range`, else throws a `ValidationError` naming `flag`, the
    /// value and the range, e.g. "--count -5 is out of range: it must be in 1...2147483647".
    @discardableResult
    static func require(_ value: Int, _ flag: String, in range: ClosedRange<Int>) throws -> Int {
        guard range.contains(value) else {
            throw ValidationError("\(flag) \(value) is out of range: it must be in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// The product of `factors` times `copies`, in bytes, or a `ValidationError` naming `what`
    /// when a factor is negative or the product overflows `Int`.
    static func bytes(_ factors: Int..., copies: Int = 1, what: String) throws -> Int {
        var total = copies
        for f in factors {
            guard f >= 0 else { throw ValidationError("\(what): negative size \(f)") }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            guard !overflow else { throw ValidationError("\(what): the memory it needs overflows a 64-bit byte count") }
            total = p
        }
        return total
    }

    /// Bytes a run may use: the machine's physical memory, or `EMD_MEMORY_LIMIT_MB` (MiB) when
    /// that is set lower (shared nodes, tests); `CommandEnvironment` reads the variable.
    static var memoryLimit: Int { ResourceLimits.memoryLimit }

    /// Throws a `ValidationError` when `bytes` exceeds `memoryLimit`, naming `what` and both
    /// numbers, so a run that cannot fit is refused before it allocates (or computes) anything.
    static func requireMemory(_ bytes: Int, for what: String) throws {
        let limit = memoryLimit
        guard bytes <= limit else {
            throw ValidationError("\(what) need about \(describe(bytes: bytes)), more than the \(describe(bytes: limit)) of memory available (physical memory, or EMD_MEMORY_LIMIT_MB)")
        }
    }

    /// Refuses a file whose size, times `copies` (the copies a reader holds at once), exceeds
    /// `memoryLimit`. Does not open the file, so it never blocks on a FIFO; a missing file is
    /// left to the reader, which names it.
    static func requireFileFits(_ path: String, copies: Int = 2) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attributes[.size] as? NSNumber)?.intValue else { return }
        try requireMemory(try bytes(size, copies: copies, what: path), for: "\(path) (\(size) bytes) and its decoded copy")
    }

    /// "1.5 GiB"-style size.
    static func describe(bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", v, units[u])
    }
}
