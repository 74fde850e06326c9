import ArgumentParser
import Foundation
import Training
import Diffusion
import Distillation
import FileFormats
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var interruptSignal: sig_atomic_t = 0

/// Stop signals for the commands that do not checkpoint (`sample`, `eval`): SIGTERM and SIGUSR1
/// (through `Preemption`, installed by `startRun`) and SIGINT (installed here) end a long
/// sampling run between chunks. Exit status: 130 after SIGINT (the shell's 128 + 2), else
/// `Preemption.exitCode` (75): nothing was written, and a requeued job simply samples again
/// (the samples are keyed by seed and index, so the rerun gives the same file).
enum StopSignals {
    /// Catch SIGINT too (Preemption.install catches SIGTERM and SIGUSR1 only).
    static func installInterrupt() {
        signal(SIGINT) { _ in interruptSignal = 1 }
    }

    /// The exit status to stop with, or nil while no stop signal has arrived.
    static var pending: Int32? {
        if interruptSignal != 0 { return 130 }
        return Preemption.requested ? Preemption.exitCode : nil
    }

    /// Throws `ExitCode` (after a message on stderr) when a stop signal has arrived.
    static func check(_ what: String) throws {
        if let code = pending { throw stopped(what, code: code) }
    }

    static func stopped(_ what: String, code: Int32) -> ExitCode {
        let signal = code == 130 ? "SIGINT" : "SIGTERM/SIGUSR1"
        Console.error("emd: \(signal) received: \(what) stopped, nothing written (exit \(code))\n")
        return ExitCode(code)
    }
}

/// Samples drawn from a checkpoint by `sample` and `eval`.
struct DrawnSamples {
    var values: [Float]
    var dimension: Int
    var nfe: Int
    /// Classes of a class-conditional teacher (nil otherwise).
    var classes: Int? = nil
    /// "generator" or "teacher".
    var model: String
    /// The teacher guidance scale behind the samples: the sampler's for a teacher, the
    /// distillation's for a generator (nil for unconditional models).
    var guidance: Float? = nil
}

/// Draw `count` samples from a generator (one step) or teacher (`sampler` with `steps` noise
/// levels) checkpoint. Sizes are validated before anything is loaded; the memory of `copies`
/// sample arrays is refused up front when it cannot fit; stop signals end the run between
/// chunks (see `StopSignals`).
/// The class labels of `count` samples: one class for all (`spec` a number), or "all": the
/// classes in order, `count / classes` samples each (the last class takes the remainder).
func classLabels(_ spec: String?, count: Int, classes: Int) throws -> [Int32]? {
    guard let spec else { return nil }
    guard classes > 0 else { throw ValidationError("--class: the checkpoint is not class-conditional") }
    if spec == "all" {
        let per = max(1, count / classes)
        return (0..<count).map { Int32(min($0 / per, classes - 1)) }
    }
    guard let c = Int(spec), (0..<classes).contains(c) else {
        throw ValidationError("--class must be a class in 0..<\(classes) or all, got \(spec)")
    }
    return [Int32](repeating: Int32(c), count: count)
}

func drawSamples(checkpoint: String, count: Int, steps: Int, sampler: Sampler, useEMA: Bool, seed: Int,
                 copies: Int, classSpec: String? = nil, guidance: Float = 1) throws -> DrawnSamples {
    try validateSamplingFlags(count: count, steps: steps, seed: seed)
    let kind = try Checkpoint.read(checkpoint).metadata["kind"] ?? ""
    if kind == "generator" {
        let g = try OneStepGenerator.load(checkpoint, useEMA: useEMA)
        // A generator's guidance is in its weights; a sampling scale would be silently ignored.
        guard guidance == 1 else {
            throw ValidationError("--guidance applies to a teacher: \(checkpoint) is a one-step generator, distilled with guidance "
                                  + "w = \(g.guidance) (set by distill --guidance)")
        }
        let labels = try classLabels(classSpec, count: count, classes: g.network.classes)
        let d = g.network.inputSize
        try requireSampleMemory(count: count, dimension: d, copies: copies)
        do {
            // Chunks of a multiple of the generator's own batch (512): the same samples as one call.
            let values = try chunkedSamples(count: count, dimension: d, chunk: 8192, stop: { StopSignals.pending != nil }) { first, n in
                g.sample(count: n, seed: UInt64(seed), first: first, labels: labels.map { Array($0[first..<(first + n)]) })
            }
            return DrawnSamples(values: values, dimension: d, nfe: 1, classes: g.network.classes > 0 ? g.network.classes : nil,
                                model: "generator", guidance: g.network.classes > 0 ? g.guidance : nil)
        } catch let s as SamplingStopped {
            throw StopSignals.stopped("sampling \(checkpoint) after \(s.completed) of \(s.total) samples",
                                      code: StopSignals.pending ?? Preemption.exitCode)
        }
    }
    let t = try TeacherModel.load(checkpoint, useEMA: useEMA)
    let d = t.network.inputSize
    try requireSampleMemory(count: count, dimension: d, copies: copies)
    let labels = try classLabels(classSpec, count: count, classes: t.network.classes)
    guard labels != nil || guidance == 1 else {
        throw ValidationError("--guidance needs --class: it mixes a class's denoiser with the unconditional one")
    }
    let denoiser: Denoiser = labels == nil ? t.denoiser(maxBatch: 256) : GuidedDenoiser(t.denoiser(maxBatch: 256), guidance: guidance)
    do {
        let values = try sampler.sample(denoiser, edm: t.edm, steps: steps, count: count,
                                        seed: UInt64(seed), labels: labels, stop: { StopSignals.pending != nil })
        let branches = labels == nil || guidance == 0 || guidance == 1 ? 1 : 2
        return DrawnSamples(values: values, dimension: d, nfe: sampler.nfe(steps: steps) * branches,
                            classes: t.network.classes > 0 ? t.network.classes : nil, model: "teacher",
                            guidance: labels == nil ? nil : guidance)
    } catch let s as SamplingStopped {
        throw StopSignals.stopped("sampling \(checkpoint) after \(s.completed) of \(s.total) samples",
                                  code: StopSignals.pending ?? Preemption.exitCode)
    }
}

/// The bounds of `sample` and `eval`: `--count` and `--steps` in their ranges, `--seed` not negative.
func validateSamplingFlags(count: Int, steps: Int, seed: Int) throws {
    try InputLimits.require(count, "--count", in: InputLimits.counts)
    try InputLimits.require(steps, "--steps", in: InputLimits.samplerSteps)
    try InputLimits.require(seed, "--seed", in: InputLimits.seeds)
}

/// Refuse `count` samples of `dimension` floats when `copies` of them would not fit in memory.
func requireSampleMemory(count: Int, dimension: Int, copies: Int) throws {
    let bytes = try InputLimits.bytes(count, dimension, MemoryLayout<Float>.size, copies: copies,
                                      what: "--count \(count) of dimension \(dimension)")
    try InputLimits.requireMemory(bytes, for: "\(count) samples of dimension \(dimension) (\(copies) copies)")
}

/// Non-finite samples (a sample counts once however many of its coordinates are NaN or
/// infinite) and the index of the first one.
func nonFiniteSamples(_ values: [Float], dimension: Int) -> (count: Int, first: Int?) {
    guard dimension > 0 else { return (0, nil) }
    var bad = 0, first: Int? = nil
    values.withUnsafeBufferPointer { v in
        for s in 0..<(v.count / dimension) where !allFinite(v.baseAddress! + s * dimension, count: dimension) {
            bad += 1
            if first == nil { first = s }
        }
    }
    return (bad, first)
}

/// Throws when any sample holds NaN or infinity, counting them; `action` says what is refused.
func refuseNonFinite(_ values: [Float], count: Int, dimension: Int, source: String, action: String) throws {
    let (bad, first) = nonFiniteSamples(values, dimension: dimension)
    guard bad == 0 else {
        throw ValidationError("\(source): \(bad) of \(count) samples contain NaN or infinity (the first is sample \(first! + 1)); \(action)")
    }
}
