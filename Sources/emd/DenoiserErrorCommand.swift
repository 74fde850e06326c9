import ArgumentParser
import Foundation
import Training
import Diffusion
import Evaluation

/// `emd denoiser-error`: a teacher's denoiser against the exact denoiser of its training set, at
/// each noise level (where has the network learned the posterior mean, and where not).
struct DenoiserErrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denoiser-error",
        abstract: "A teacher's denoiser against the exact posterior mean of a sample set (its training data), by noise level.",
        discussion: """
            Noisy queries x = x0 + sigma n from --queries (clean images) are denoised by the
            teacher (its EMA weights) and by the exact denoiser of --reference taken as the data
            distribution. Per level: mse_ref (the exact denoiser's error against x0), mse_net (the
            teacher's), error (teacher against exact), signal (the exact answers' variance over the
            queries), rel_error = error / signal, ess (the median effective number of reference
            samples the exact answer averages; near 1 it memorises one sample and stops standing
            for the population), and z, the level's place in the teacher's training law,
            (ln sigma - P_mean) / P_std; within = error / (the exact answers' variance around
            their class's mean answer: the part that tells one class's samples apart). A
            class-conditional teacher is measured both without class and with each query's own
            class (the reference restricted to that class), with classifier-free guidance
            --guidance on both sides. A ratio with a zero denominator is written as null.
            """)

    @Option(help: "Teacher checkpoint.") var checkpoint: String
    @Option(help: "Reference sample set whose exact denoiser is the yardstick (a dataset spec, as train-teacher --data).") var reference = "fashion-mnist"
    @Option(help: "Clean queries (a dataset spec).") var queries = "fashion-mnist-test"
    @Option(help: "Queries (the first N of --queries).") var count = 256
    @Option(help: "Noise levels, comma-separated, in multiples of the teacher's sigma_data.") var sigmas = "0.5,1,2,4,8,16,32"
    @Option(help: "Seed of the query noise.") var seed = 0
    @Option(help: "Classifier-free guidance w of both denoisers when measured with the queries' classes (1: conditional).") var guidance: Float = 1
    @Option(help: "Write the rows as JSON here.") var json: String?

    func run() throws {
        let levels = sigmas.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !levels.isEmpty, levels.allSatisfy({ $0 != nil && $0!.isFinite && $0! > 0 && $0! <= 1e4 }) else {
            throw ValidationError("--sigmas: positive numbers up to 1e4, comma-separated (got '\(sigmas)')")
        }
        try InputLimits.require(count, "--count", in: 1...100_000)
        try InputLimits.require(seed, "--seed", in: InputLimits.seeds)
        try InputLimits.requireGuidance(guidance)
        let comm = startRun(blasThreads: nil)
        StopSignals.installInterrupt()
        try runCommand(comm) {
            guard comm.isRoot else { return }
            try checkOutput(json, flag: "--json", creatingFolder: true)
            let teacher = try TeacherModel.load(checkpoint)
            let ref = try ArrayDataset.load(reference), query = try ArrayDataset.load(queries)
            let d = teacher.network.inputSize
            guard ref.dimension == d, query.dimension == d else {
                throw ValidationError("the teacher denoises \(d) values, --reference has \(ref.dimension) and --queries \(query.dimension)")
            }
            guard count <= query.count else { throw ValidationError("--count \(count): --queries has \(query.count) samples") }
            let chunk = 64
            let net = teacher.denoiser(maxBatch: chunk)
            let exact = EmpiricalDenoiser(samples: ref.values, count: ref.count, dimension: d, labels: ref.labels)
            let absolute = levels.map { $0! * teacher.edm.sigmaData }
            let queryLabels = query.labels.map { Array($0.prefix(count)).map(Int32.init) }
            var modes: [(name: String, conditional: Bool, network: Denoiser, exact: ExactDenoiser)] = [("no class", false, net, exact)]
            if teacher.network.classes > 0, queryLabels != nil, ref.labels != nil {
                let name = guidance == 1 ? "own class" : String(format: "own class, guidance w = %g", guidance)
                modes.append((name, true, GuidedDenoiser(net, guidance: guidance), GuidedDenoiser(exact, guidance: guidance)))
            } else if guidance != 1 {
                throw ValidationError("--guidance needs a class-conditional teacher and labelled --reference and --queries")
            }
            var out: [[String: Any]] = []
            print(String(format: "%@: %d queries from %@, exact denoiser of %d samples of %@; sigma_data %g, training law ln sigma ~ N(%g, %g^2)",
                         checkpoint, count, queries, ref.count, reference, teacher.edm.sigmaData, teacher.edm.pMean, teacher.edm.pStd))
            for mode in modes {
                try StopSignals.check("denoiser-error")
                let rows = DenoiserError.measure(mode.network, reference: mode.exact, queries: Array(query.values.prefix(count * d)),
                                                 count: count, labels: queryLabels, conditional: mode.conditional, sigmas: absolute,
                                                 seed: UInt64(seed), chunk: chunk)
                print("\n\(mode.name):")
                print("| sigma/sigma_data | sigma | z | ess | mse_ref | mse_net | error | signal | rel_error | within |")
                print("|---|---|---|---|---|---|---|---|---|---|")
                for r in rows {
                    let z = (log(r.sigma) - teacher.edm.pMean) / teacher.edm.pStd
                    print(String(format: "| %g | %.4g | %.2f | %.1f | %.4g | %.4g | %.4g | %.4g | %.3f | %.3f |", r.sigma / teacher.edm.sigmaData,
                                 r.sigma, z, r.medianEffectiveCount, r.referenceToClean, r.denoiserToClean, r.error, r.signal,
                                 r.relativeError, r.withinClassRelativeError))
                    // JSON has no infinity: a ratio over a zero variance (one query) is null.
                    func number(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
                    out.append(["conditioning": mode.name, "sigma": Double(r.sigma), "sigma_over_data": Double(r.sigma / teacher.edm.sigmaData),
                                "z": Double(z), "ess": Double(r.medianEffectiveCount), "mse_ref": r.referenceToClean,
                                "mse_net": r.denoiserToClean, "error": r.error, "signal": r.signal, "rel_error": number(r.relativeError),
                                "within_class_signal": r.withinClassSignal,
                                "within_class_rel_error": number(r.withinClassRelativeError)])
                }
            }
            if let json { try writeJSON(["checkpoint": checkpoint, "reference": reference, "queries": queries, "count": count,
                                          "seed": seed, "guidance": Double(guidance), "rows": out], to: json) }
        }
    }
}
