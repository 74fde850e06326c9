import Foundation
import CounterRNG
import FileFormats
import NN
import Diffusion
import Distillation
import Training

/// How one input ended.
enum Outcome {
    /// Parsed (and, where it applies, round-tripped).
    case accepted
    /// Refused with an error that names the input and the problem; the message is kept.
    case rejected(String)
    /// Anything else: a wrong error type, a rejection that does not name the input, or an
    /// accepted input that does not round-trip. The harness counts it as a failure.
    case bad(String)
}

/// A parser under test: valid seed inputs, where their JSON text lies, and the parse itself.
struct FuzzTarget {
    let name: String
    let seeds: [[UInt8]]
    /// JSON text range of a seed (nil: binary).
    let textRange: ([UInt8]) -> Range<Int>?
    /// Mutate a seed into an input (defaults to `Mutator.mutate`).
    var mutate: ((_ seed: [UInt8], _ target: FuzzTarget, _ rng: inout SplitMix64) -> [UInt8])? = nil
    let run: ([UInt8]) -> Outcome

    func input(iteration: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D ^ UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15)
        let s = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
        if let m = mutate { return m(s, self, &rng) }
        return Mutator.mutate(s, textRange: textRange(s), others: seeds, rng: &rng)
    }
}

/// The source name every rejection must carry.
let source = "mutant"

/// Classifies a thrown error: the project's own error types, naming the input, are rejections.
func classify(_ error: Error) -> Outcome {
    let text: String
    switch error {
    case let e as FileFormatError:
        guard e.path == source, !e.problem.isEmpty else { return .bad("FileFormatError without the input's name: \(e)") }
        text = e.problem
    case let e as ConfigError:
        guard e.message.hasPrefix(source + ": "), e.message.count > source.count + 4 else {
            return .bad("ConfigError without the input's name: \(e)")
        }
        text = String(e.message.dropFirst(source.count + 2))
    default:
        return .bad("unexpected error type \(type(of: error)): \(error)")
    }
    return .rejected(text)
}

func headerRange(_ d: [UInt8]) -> Range<Int>? {
    guard d.count >= 8 else { return nil }
    var n = 0
    for k in 0..<8 { n |= Int(d[k]) << (8 * k) }
    return 8..<min(d.count, 8 + n)
}

/// safetensors: seeds of every dtype, empty and scalar tensors, metadata. Half the mutants edit
/// the header text and then fix the length prefix, so they reach the checks behind it.
func safetensorsTarget() throws -> FuzzTarget {
    let a = try SafeTensorsFile(tensors: [
        SafeTensorsEntry(name: "w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
        SafeTensorsEntry(name: "b", shape: [3], doubles: [0.5, -1, 2]),
        SafeTensorsEntry(name: "n", shape: [], int64s: [7]),
        SafeTensorsEntry(name: "e", shape: [0, 4], floats: []),
    ], metadata: ["format": "pt", "note": "seed"])
    let b = try SafeTensorsFile(tensors: [
        SafeTensorsEntry(name: "i", shape: [4], int32s: [1, -2, 3, -4]),
        SafeTensorsEntry(name: "u", shape: [2, 2], uint8s: [1, 2, 3, 255]),
    ])
    let c = try SafeTensorsFile(tensors: [SafeTensorsEntry(name: "x", shape: [1, 1, 1, 2], floats: [1, 2])], metadata: [:])
    var t = FuzzTarget(name: "safetensors", seeds: [a, b, c].map { [UInt8]($0.serialized()) }, textRange: headerRange) { bytes in
        do {
            let f = try SafeTensorsFile(data: Data(bytes), path: source)
            for (_, e) in f.tensors {
                switch e.dtype {
                case .F32: _ = try e.floats()
                case .F64: _ = try e.doubles()
                case .I32: _ = try e.int32s()
                case .I64: _ = try e.int64s()
                case .U8: _ = try e.uint8s()
                default: break
                }
            }
            let again = try SafeTensorsFile(data: f.serialized())
            guard again.tensors == f.tensors, again.metadata == f.metadata else { return .bad("accepted input does not round-trip") }
            return .accepted
        } catch { return classify(error) }
    }
    t.mutate = headerAware
    return t
}

/// Mutate the header text and re-attach it with a correct length prefix (half the time), or
/// mutate the whole file.
func headerAware(_ seed: [UInt8], _ target: FuzzTarget, _ rng: inout SplitMix64) -> [UInt8] {
    guard Bool.random(using: &rng), let r = headerRange(seed) else {
        return Mutator.mutate(seed, textRange: target.textRange(seed), others: target.seeds, rng: &rng)
    }
    let header = Mutator.mutate(Array(seed[r]), textRange: 0..<r.count, others: [], rng: &rng)
    var body = Array(seed[r.upperBound...])
    if Int.random(in: 0..<5, using: &rng) == 0 { body = Mutator.mutate(body, textRange: nil, others: [], rng: &rng) }
    let n = UInt64(header.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + header + body
}

/// Teacher checkpoints: a safetensors file whose metadata holds the network and EDM configs;
/// loading builds the network it describes and copies the weights in.
func checkpointTarget() throws -> FuzzTarget {
    var seeds: [[UInt8]] = []
    for (kind, hidden) in [(NetworkKind.mlp, 8), (.resmlp, 6)] {
        let nc = NetworkConfig(kind: kind, dimension: 2, hidden: hidden, depth: 2, embedding: 4)
        let net = try nc.build()
        let p = Parameters(layout: net.layout)
        for i in 0..<p.count { p.values[i] = Float(i % 7) * 0.1 - 0.3 }
        var entries: [SafeTensorsEntry] = []
        for group in ["params", "ema"] {
            for s in net.layout.specs {
                entries.append(try SafeTensorsEntry(name: "\(group).\(s.name)", shape: s.shape,
                                                    floats: Array(UnsafeBufferPointer(start: p.values + s.offset, count: s.count))))
            }
        }
        let meta = ["format": "emd-checkpoint-1", "kind": "teacher", "step": "10", "network": StrictConfig.json(nc),
                    "edm": StrictConfig.json(EDMConfig())]
        seeds.append([UInt8](try SafeTensorsFile(tensors: entries, metadata: meta).serialized()))
    }
    var t = FuzzTarget(name: "checkpoint", seeds: seeds, textRange: headerRange) { bytes in
        do {
            let c = try Checkpoint.decode(data: Data(bytes), path: source)
            let m = try TeacherModel(checkpoint: c)
            guard m.parameters.count == m.network.layout.count else { return .bad("parameter count differs from layout") }
            return .accepted
        } catch { return classify(error) }
    }
    t.mutate = headerAware
    return t
}

/// IDX: unsigned-byte and float32 arrays of 1 to 4 dimensions, raw and gzip-compressed.
func idxTarget() throws -> FuzzTarget {
    let a = try IDX.encode(dims: [2, 3, 4], bytes: (0..<24).map { UInt8($0 * 10) })
    let b = try IDX.encode(dims: [5], bytes: [1, 2, 3, 4, 5])
    let c = try IDX.encode(dims: [2, 2], bytes: [0x3F, 0x80, 0, 0, 0x40, 0, 0, 0, 0xBF, 0x80, 0, 0, 0, 0, 0, 0],
                               dataType: IDX.float32)
    let d = try IDX.encode(dims: [1, 2, 2, 2], bytes: [9, 8, 7, 6, 5, 4, 3, 2])
    let z = try gzip(a)
    return FuzzTarget(name: "idx", seeds: [a, b, c, d, z].map { [UInt8]($0) }, textRange: { _ in nil }) { bytes in
        do {
            let x = try IDX.decode(data: Data(bytes), path: source)
            let n = x.dataType == IDX.float32 ? try x.floats().count : x.bytes.count
            guard n == x.dims.reduce(1, *) else { return .bad("value count \(n) differs from dims \(x.dims)") }
            return .accepted
        } catch { return classify(error) }
    }
}

/// JSON configs: the distillation and teacher configs (overlaid on the defaults, then
/// validated) and mixture files. Every input is tried as all three.
func configTarget() throws -> FuzzTarget {
    var partial = DistillConfig()
    partial.langevinSteps = 4
    let seeds = [
        StrictConfig.json(DistillConfig()), StrictConfig.json(TeacherConfig()), StrictConfig.json(GaussianMixture.ring()),
        #"{"steps": 100, "batch": 64, "gammaZ": 0.001, "method": "baseline", "network": {"hidden": 32}}"#,
        #"{"data": "mixture", "edm": {"sigmaData": 0.5}, "mixture": {"dimension": 1, "means": [[0]], "weights": [1], "stds": [0.1]}}"#,
    ].map { Array($0.utf8) }
    var t = FuzzTarget(name: "config", seeds: seeds, textRange: { 0..<$0.count }) { bytes in
        let data = Data(bytes)
        var outcomes: [Outcome] = []
        func attempt(_ body: () throws -> Void) {
            do { try body(); outcomes.append(.accepted) } catch { outcomes.append(classify(error)) }
        }
        func named(_ body: () throws -> Void) throws {
            do { try body() } catch let e as ConfigError { throw ConfigError("\(source): \(e.message)") }
        }
        attempt {
            let c = try StrictConfig.overlay(DistillConfig(), json: data, source: source)
            try named { try c.validate() }
        }
        attempt {
            let c = try StrictConfig.overlay(TeacherConfig(), json: data, source: source)
            try named { try c.validate() }
        }
        attempt { _ = try GaussianMixture.decode(json: data, source: source) }
        for o in outcomes { if case .bad = o { return o } }
        for o in outcomes { if case .accepted = o { return o } }
        return outcomes[0]
    }
    // Half the mutants keep the JSON well-formed and only change values, so they reach the
    // type and range checks behind the parser.
    t.mutate = { seed, target, rng in
        guard Bool.random(using: &rng) else {
            return Mutator.mutate(seed, textRange: 0..<seed.count, others: target.seeds, rng: &rng)
        }
        var d = seed
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard let span = Mutator.numberSpan(in: d, within: 0..<d.count, rng: &rng) else { break }
            let pick = Int.random(in: 0..<4, using: &rng)
            let replacement = pick == 0 ? ["\"x\"", "null", "[]", "{}", "true", "[[1]]", "\"ring\""].randomElement(using: &rng)!
                                        : Mutator.extremeNumbers.randomElement(using: &rng)!
            d.replaceSubrange(span, with: Array(replacement.utf8))
        }
        return d
    }
    return t
}
