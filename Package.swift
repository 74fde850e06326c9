// swift-tools-version:6.0
import PackageDescription

/// Release builds drop bounds and overflow checks in the numeric modules (kernels, layers,
/// denoisers, the E-step), whose sizes are validated before they run; parsing (FileFormats),
/// orchestration (Training) and the command line keep every check (`-O`), so a size that
/// escaped validation traps with a message instead of corrupting memory.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
/// The same, for a module whose test-only entry points are reached by `@testable import` from
/// the release-built test suite.
let fastTestable: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-enable-testing"], .when(configuration: .release))]

let package = Package(
    name: "emd",
    products: [
        .executable(name: "emd", targets: ["emd"]),
        .library(name: "SwiftMPI", targets: ["SwiftMPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims over system libraries.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The core's peak: a vector FMA loop per width, and CPU feature checks. DWARF 4 debug
        // information: clang's default DWARF 5 is unreadable to Debian's valgrind 3.19, which the
        // allocation test runs the whole binary under.
        .target(name: "CMachine", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        // Elementwise kernels of the step (SiLU, Adam, EMA) cloned for AVX-512, AVX2 and baseline
        // x86-64, the widest the CPU has picked at load time; no FMA contraction, so each clone
        // computes what the others (and the Swift code they replaced) do, bit for bit.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno", "-gdwarf-4"])]),

        // oneDNN's convolutions (Debian libdnnl-dev) on NCHW tensors: primitives made once per
        // shape and batch, reorders to and from its blocked layouts.
        .target(name: "CDNNL", cSettings: [.unsafeFlags(["-O2", "-gdwarf-4"])], linkerSettings: [.linkedLibrary("dnnl")]),

        // Stand-alone Swift wrapper over MPI.
        .target(name: "SwiftMPI", dependencies: ["CMPI"]),
        // Dense linear algebra through OpenBLAS / LAPACK (products optionally on oneDNN's sgemm).
        .target(name: "BLAS", dependencies: ["COpenBLAS", "CDNNL"], swiftSettings: fast),
        // This CPU: model, vector extensions, measured peak FLOP rate, BLAS kernel width check.
        .target(name: "Machine", dependencies: ["CMachine"]),
        // Counter-based random numbers (Philox4x32-10).
        .target(name: "CounterRNG", swiftSettings: fast),
        // Tensors, parameter stores, layers with explicit backward passes, optimisers.
        .target(name: "NN", dependencies: ["BLAS", "CounterRNG", "CKernels", "CDNNL"], swiftSettings: fast),
        // safetensors, PNG, IDX, CSV, npy.
        .target(name: "FileFormats", dependencies: ["CZlib"]),
        // The training runtime: collectives (MPI or in-process), shards, step agreement,
        // preemption, fault injection, progress and metrics, checkpoints and their folder, and
        // the one training loop.
        .target(name: "Training", dependencies: ["SwiftMPI", "NN", "FileFormats"]),
        // EDM: preconditioning, denoisers (network and exact mixture), datasets, samplers,
        // denoising score matching, teacher training.
        .target(name: "Diffusion", dependencies: ["NN", "CounterRNG", "FileFormats", "Training"], swiftSettings: fast),
        // EM Distillation: E-step chains, M-step, student, gradient exchange, the distiller.
        .target(name: "Distillation", dependencies: ["Diffusion", "Training", "NN", "CounterRNG"], swiftSettings: fastTestable),
        // Metrics: mixture coverage, classifier features, Frechet distance, precision/recall.
        .target(name: "Evaluation", dependencies: ["Diffusion", "Training", "NN", "CounterRNG", "BLAS", "FileFormats"],
                swiftSettings: fast),

        .executableTarget(
            name: "emd",
            dependencies: [
                "Distillation", "Evaluation", "Diffusion", "Training", "NN", "BLAS", "SwiftMPI", "FileFormats",
                "CounterRNG", "Machine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Seeded mutation fuzzing of the input parsers (docs/reliability.md).
        .executableTarget(
            name: "emd-fuzz",
            dependencies: ["Distillation", "Diffusion", "Training", "FileFormats", "NN", "CounterRNG",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Small program that the multi-rank tests launch under mpirun.
        .executableTarget(name: "mpi-selftest", dependencies: ["SwiftMPI", "NN", "BLAS", "CounterRNG"], swiftSettings: fast),

        .testTarget(name: "NNTests", dependencies: ["NN", "BLAS", "CounterRNG"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "CounterRNG"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NN"]),
        .testTarget(name: "MachineTests", dependencies: ["Machine"]),
        .testTarget(name: "DiffusionTests",
                    dependencies: ["Diffusion", "Distillation", "Evaluation", "Training", "NN", "CounterRNG", "FileFormats"]),
        .testTarget(name: "MultiRankTests", dependencies: ["Diffusion", "Training"]),
        .testTarget(name: "EvaluationTests",
                    dependencies: ["Evaluation", "Diffusion", "Training", "NN", "CounterRNG", "BLAS", "FileFormats"]),
    ]
)
