import ArgumentParser
import Training

/// `emd`: train EDM teachers, distill them into one-step generators with EM Distillation,
/// sample and evaluate, on one rank or many under `mpirun`.
@main
struct EMD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emd",
        abstract: "EM Distillation of diffusion models into one-step generators, on CPU clusters with MPI.",
        subcommands: [Demo.self, TrainTeacher.self, Distill.self, Sample.self, Eval.self, PlotFD.self, TrainClassifier.self, Bench.self, BenchDistill.self, BenchMixtures.self, ScalingModelCommand.self, DenoiserErrorCommand.self])

    /// The signal handlers go in before anything else (argument parsing, MPI, data loading), so
    /// a preemption signal that arrives early is handled, not fatal.
    static func main() {
        Preemption.install()
        main(nil)
    }
}
