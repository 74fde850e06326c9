import Foundation
import CounterRNG

/// Paths of the fixtures that `argv` command lines refer to (built once per campaign by
/// `ArgvFixtures.build`): small valid inputs of every kind, plus hostile paths.
struct FixturePaths {
    let dir: String
    var teacher: String { dir + "/teacher.safetensors" }
    var generator: String { dir + "/generator.safetensors" }
    var classifier: String { dir + "/classifier.safetensors" }
    var samples: String { dir + "/samples.npy" }
    var imageSamples: String { dir + "/images.npy" }
    var csv: String { dir + "/data.csv" }
    var images: String { dir + "/images.idx" }
    var labels: String { dir + "/labels.idx" }
    var mixture: String { dir + "/mixture.json" }
    var teacherConfig: String { dir + "/teacher-config.json" }
    var distillConfig: String { dir + "/distill-config.json" }
    var fifo: String { dir + "/fifo" }
    var directory: String { dir + "/a-directory" }
    var empty: String { dir + "/empty" }
    var missing: String { dir + "/missing" }

    /// Paths that must never crash or hang a reader.
    var hostile: [String] {
        [fifo, directory, empty, missing, "/dev/full", "/dev/zero", "/dev/null", "", samples, csv, teacherConfig,
         dir + "/" + String(repeating: "p", count: 5000), teacher, generator, classifier, mixture, images]
    }
}

/// Seeded mutation of whole `emd` command lines. Every command line starts from a valid, short
/// one (small step counts and sizes, so a clean run takes a second or two) and is then edited:
/// numbers replaced by edge values, paths by hostile ones (FIFOs, directories, devices, missing
/// or wrong-format files), flags inserted, deleted or duplicated, dataset and mixture specs
/// broken. Keyed by (campaign seed, iteration), as the byte-level targets are.
struct CommandLineFuzzer {
    let fixtures: FixturePaths
    /// Folder the command writes into (emptied before every run).
    let scratch: String

    static let subcommands = ["sample", "eval", "train-teacher", "distill", "train-classifier", "bench", "bench-distill", "demo"]

    static let edgeNumbers = ["0", "-1", "1", "2", "-0", "2147483647", "2147483648", "-2147483648", "4294967296",
                              "9223372036854775807", "9223372036854775808", "-9223372036854775808", "4611686018427387904",
                              "18446744073709551616", "NaN", "nan", "inf", "-inf", "Infinity", "1e39", "-1e39", "1e400",
                              "1e-45", "1e-400", "0.5", "-0.5", "1e9", "65536", "100000", "0x10", "", "abc", " 3",
                              String(repeating: "9", count: 400), String(repeating: "x", count: 100_000)]

    /// Integers that parse as `Int`, at the edges.
    static let edgeIntegers = ["0", "-1", "1", "2", "3", "7", "2147483647", "2147483648", "-2147483648", "4294967296",
                               "9223372036854775807", "-9223372036854775808", "4611686018427387904", "65536", "1000000", "100000000"]
    /// Numbers that parse as `Float` or `Double`, at the edges.
    static let edgeFloats = ["0", "-0", "-1", "1", "nan", "inf", "-inf", "1e39", "-1e39", "1e30", "1e-45", "1e-30", "0.5",
                             "2", "1e9", "3.4028235e38"]
    static let intFlags: Set<String> = ["--count", "--steps", "--seed", "--hidden", "--depth", "--channels", "--batch",
                                        "--log-every", "--checkpoint-every", "--init-steps", "--langevin-steps", "--student-steps",
                                        "--eval-samples", "--samples", "--teacher-steps", "--repeats", "--blas-threads"]
    static let floatFlags: Set<String> = ["--lr", "--ema-decay", "--gamma-eps", "--gamma-z", "--sigma-lo", "--sigma-hi",
                                          "--sigma-init", "--generator-lr", "--student-lr", "--grad-clip", "--ema-rampup",
                                          "--time-limit"]

    /// Flags each subcommand accepts that take a value, for insertions.
    static let valueFlags: [String: [String]] = [
        "sample": ["--checkpoint", "--count", "--out", "--png", "--mixture", "--steps", "--sampler", "--seed"],
        "eval": ["--samples", "--checkpoint", "--count", "--steps", "--mixture", "--classifier", "--reference", "--json", "--png", "--seed"],
        "train-teacher": ["--config", "--out", "--blas-threads", "--data", "--mixture", "--network", "--hidden", "--depth",
                          "--channels", "--steps", "--batch", "--lr", "--ema-decay", "--seed", "--log-every", "--checkpoint-every"],
        "distill": ["--config", "--out", "--blas-threads", "--teacher", "--mixture", "--init", "--init-steps", "--method",
                    "--steps", "--batch", "--langevin-steps", "--gamma-eps", "--gamma-z", "--sigma-lo", "--sigma-hi",
                    "--sigma-init", "--student-steps", "--generator-lr", "--student-lr", "--grad-clip", "--ema-decay",
                    "--ema-rampup", "--allreduce", "--seed", "--time-limit", "--log-every", "--checkpoint-every", "--eval-samples"],
        "train-classifier": ["--data", "--test", "--out", "--steps", "--batch", "--lr", "--seed", "--json"],
        "bench": ["--json", "--repeats", "--batch", "--unet", "--conv-scratch", "--blas-threads"],
        "bench-distill": ["--json", "--steps", "--batch", "--ks", "--networks", "--allreduce"],
        "demo": ["--json", "--out", "--steps", "--init-steps", "--langevin-steps", "--samples", "--teacher-steps", "--seed",
                 "--mixture", "--blas-threads"],
    ]

    /// Valid, short command lines for `sub`.
    func bases(_ sub: String) -> [[String]] {
        let f = fixtures, o = scratch
        switch sub {
        case "sample":
            return [["sample", "--checkpoint", f.teacher, "--count", "64", "--steps", "4", "--out", o + "/s.npy"],
                    ["sample", "--checkpoint", f.generator, "--count", "64", "--out", o + "/s.safetensors", "--png", o + "/s.png"],
                    ["sample", "--checkpoint", f.teacher, "--count", "16", "--steps", "3", "--sampler", "euler", "--no-ema",
                     "--out", o + "/s.npy", "--png", o + "/s.png", "--mixture", f.mixture]]
        case "eval":
            return [["eval", "--checkpoint", f.generator, "--count", "64", "--json", o + "/m.json"],
                    ["eval", "--checkpoint", f.teacher, "--count", "32", "--steps", "3", "--png", o + "/e.png"],
                    ["eval", "--samples", f.samples, "--mixture", "ring", "--json", o + "/m.json"],
                    ["eval", "--samples", f.imageSamples, "--classifier", f.classifier, "--reference", "idx:\(f.images),\(f.labels)"]]
        case "train-teacher":
            return [["train-teacher", "--data", "mixture", "--steps", "6", "--hidden", "16", "--batch", "32", "--out", o + "/t",
                     "--log-every", "3", "--checkpoint-every", "3"],
                    ["train-teacher", "--data", "csv:" + f.csv, "--steps", "4", "--hidden", "8", "--out", o + "/t"],
                    ["train-teacher", "--data", "idx:\(f.images),\(f.labels)", "--steps", "2", "--hidden", "16", "--batch", "8",
                     "--out", o + "/t"],
                    ["train-teacher", "--config", f.teacherConfig, "--steps", "4", "--out", o + "/t"]]
        case "distill":
            return [["distill", "--teacher", "mixture", "--steps", "3", "--init-steps", "3", "--batch", "16", "--eval-samples", "64",
                     "--out", o + "/d", "--log-every", "1"],
                    ["distill", "--teacher", f.teacher, "--steps", "2", "--batch", "16", "--langevin-steps", "2",
                     "--eval-samples", "0", "--out", o + "/d"],
                    ["distill", "--config", f.distillConfig, "--steps", "2", "--out", o + "/d", "--eval-samples", "0"]]
        case "train-classifier":
            return [["train-classifier", "--data", "idx:\(f.images),\(f.labels)", "--test", "idx:\(f.images),\(f.labels)",
                     "--steps", "2", "--batch", "8", "--out", o + "/c.safetensors", "--json", o + "/c.json"]]
        case "bench":
            // A small U-Net: the default one (c = 32, 28 x 28, batch 64) takes seconds per line.
            return [["bench", "--repeats", "1", "--batch", "8", "--unet", "4,8,2", "--conv-scratch", "4096", "--json", o + "/b.json"]]
        case "bench-distill":
            return [["bench-distill", "--steps", "1", "--batch", "8", "--ks", "1", "--networks", "mixture", "--json", o + "/b.json"]]
        default:
            return [["demo", "--steps", "2", "--init-steps", "2", "--samples", "32", "--teacher-steps", "2", "--out", o + "/demo",
                     "--json", o + "/demo.json"]]
        }
    }

    /// The command line of `iteration` for `sub` (without the program name).
    func commandLine(_ sub: String, iteration: Int, seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D ^ UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15
                                   ^ UInt64(Self.subcommands.firstIndex(of: sub) ?? 0) &* 0xD6E8_FEB8_6659_FD93)
        let b = bases(sub)
        var args = b[Int.random(in: 0..<b.count, using: &rng)]
        // Mostly one edit, so that most command lines parse and reach the command's own checks.
        let edits = [1, 1, 1, 1, 1, 1, 2, 2, 2, 3].randomElement(using: &rng)!
        for _ in 0..<edits { mutate(&args, sub: sub, rng: &rng) }
        return args
    }

    func hostileValue(for flag: String, rng: inout SplitMix64) -> String {
        let f = fixtures
        switch flag {
        case "--out", "--png", "--json":
            // Outputs: only hostile paths inside the scratch folder (emptied before every run),
            // so that no run can replace a fixture or a system file (a rename over /dev/null).
            return [scratch + "/fifo", scratch + "/dir", scratch + "/dir/", scratch + "/missing/sub/x.npy", scratch + "/x.txt",
                    scratch + "/x.npy", scratch + "/x.safetensors", scratch + "/x.png", scratch + "/" + String(repeating: "o", count: 300),
                    scratch + "/readonly/x.npy", "", "/proc/version", "/proc/x.npy"].randomElement(using: &rng)!
        case "--data", "--test", "--reference":
            return ["csv:" + f.fifo, "csv:" + f.missing, "csv:" + f.directory, "csv:/dev/zero", "csv:" + f.samples, "csv:",
                    "idx:" + f.fifo, "idx:\(f.images),\(f.missing)", "idx:\(f.images),\(f.fifo)", "idx:\(f.csv)", "idx:",
                    "idx:\(f.images),\(f.labels),\(f.labels)", "idx:\(f.labels),\(f.images)", "mixture", "fashion-mnist-test",
                    "csv:" + f.csv, "bogus"].randomElement(using: &rng)!
        case "--mixture", "--teacher":
            return ["random:0", "random:-1", "random:1048577", "random:99999999999999999999", "random:", "random:nan", "ring",
                    "random:3", "mixture", f.fifo, f.mixture, f.teacherConfig, f.directory, f.missing, "/dev/zero"]
                .randomElement(using: &rng)!
        case "--sampler", "--network", "--method", "--allreduce", "--networks", "--ks":
            return ["heun", "euler", "", "mlp", "resmlp", "unet", "emd", "baseline", "fused", "overlap", "separate",
                    "mixture,image", "1,8", "0", "-1,99999999", ",,,", "image"].randomElement(using: &rng)!
        case _ where Self.intFlags.contains(flag):
            return Int.random(in: 0..<4, using: &rng) < 3 ? Self.edgeIntegers.randomElement(using: &rng)!
                                                         : Self.edgeNumbers.randomElement(using: &rng)!
        case _ where Self.floatFlags.contains(flag):
            return Int.random(in: 0..<4, using: &rng) < 3 ? Self.edgeFloats.randomElement(using: &rng)!
                                                         : Self.edgeNumbers.randomElement(using: &rng)!
        default:
            // Path-valued flags get mostly hostile paths, the others mostly edge numbers.
            let pathFlag = ["--checkpoint", "--out", "--png", "--samples", "--classifier", "--json", "--config", "--init"]
                .contains(flag)
            return Int.random(in: 0..<5, using: &rng) < (pathFlag ? 1 : 4) ? Self.edgeNumbers.randomElement(using: &rng)!
                                                                           : f.hostile.randomElement(using: &rng)!
        }
    }

    func mutate(_ args: inout [String], sub: String, rng: inout SplitMix64) {
        let flags = Self.valueFlags[sub] ?? []
        // Positions of flag values (a value follows a flag that takes one).
        let valuePositions = args.indices.filter { $0 > 0 && flags.contains(args[$0 - 1]) }
        switch Int.random(in: 0..<10, using: &rng) {
        case 0, 1, 2, 3: // replace a flag's value by an edge value or a hostile path
            guard let i = valuePositions.randomElement(using: &rng) else { return }
            args[i] = hostileValue(for: args[i - 1], rng: &rng)
            // A value that starts with "-" reads as a flag: spell it "--flag=value" so it
            // reaches the command's own validation.
            if args[i].hasPrefix("-") { args[i - 1] += "=" + args[i]; args.remove(at: i) }
        case 4, 5: // insert a flag with an edge value (or set one the base line did not)
            guard let flag = flags.randomElement(using: &rng) else { return }
            let at = 1 + 2 * Int.random(in: 0...((args.count - 1) / 2), using: &rng)
            args.insert(contentsOf: [flag, hostileValue(for: flag, rng: &rng)], at: min(at, args.count))
        case 6: // delete a flag and its value, or a lone token
            guard args.count > 1 else { return }
            let i = Int.random(in: 1..<args.count, using: &rng)
            if flags.contains(args[i]), i + 1 < args.count { args.removeSubrange(i...(i + 1)) } else { args.remove(at: i) }
        case 7: // duplicate a flag with another value
            guard let i = valuePositions.randomElement(using: &rng) else { return }
            args += [args[i - 1], hostileValue(for: args[i - 1], rng: &rng)]
        case 8: // "--flag=value" spelling, or a value with the flag forgotten
            guard let i = valuePositions.randomElement(using: &rng) else { return }
            if Bool.random(using: &rng) {
                args[i - 1] += "=" + hostileValue(for: args[i - 1], rng: &rng)
                args.remove(at: i)
            } else { args.remove(at: i - 1) }
        default: // an unknown or misspelt flag, or a stray argument
            args.insert(["--no-such-flag", "--", "-", "--help", "--resume", "--count", "-x", "--steps=-1"].randomElement(using: &rng)!,
                        at: Int.random(in: 1...args.count, using: &rng))
        }
    }
}

/// A command line as a shell would need it typed, for reports.
func shellQuoted(_ args: [String]) -> String {
    args.map { a in
        let shown = a.count > 120 ? String(a.prefix(40)) + "...(\(a.count) chars)" : a
        return shown.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+".contains($0) }) && !shown.isEmpty
            ? shown : "'" + shown.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}
