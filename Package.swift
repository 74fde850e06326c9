// swift-tools-version:6.0
import PackageDescription

/// Release builds drop bounds checks in the numeric kernels; debug builds keep them.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

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

        // Stand-alone Swift wrapper over MPI.
        .target(name: "SwiftMPI", dependencies: ["CMPI"]),
        // Dense linear algebra through OpenBLAS / LAPACK.
        .target(name: "BLAS", dependencies: ["COpenBLAS"], swiftSettings: fast),
        // Counter-based random numbers (Philox4x32-10).
        .target(name: "CounterRNG", swiftSettings: fast),
        // Tensors, parameter stores, layers with explicit backward passes, optimisers.
        .target(name: "NN", dependencies: ["BLAS", "CounterRNG"], swiftSettings: fast),
        // safetensors, PNG, IDX, CSV, npy.
        .target(name: "FileFormats", dependencies: ["CZlib"], swiftSettings: fast),
        // EDM teachers: preconditioning, denoisers, mixtures, samplers, training.
        .target(name: "Diffusion", dependencies: ["NN", "SwiftMPI", "FileFormats"], swiftSettings: fast),
        // EM Distillation.
        .target(name: "Distillation", dependencies: ["Diffusion"], swiftSettings: fast),
        // Metrics: mixture coverage, classifier features, Frechet distance, precision/recall.
        .target(name: "Evaluation", dependencies: ["Diffusion"], swiftSettings: fast),

        .executableTarget(
            name: "emd",
            dependencies: [
                "Distillation", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast),
        // Seeded mutation fuzzing of the input parsers (docs/reliability.md).
        .executableTarget(
            name: "emd-fuzz",
            dependencies: ["Distillation", "CounterRNG", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fast),
        // Small program that the multi-rank tests launch under mpirun.
        .executableTarget(name: "mpi-selftest", dependencies: ["SwiftMPI", "NN", "CounterRNG"], swiftSettings: fast),

        .testTarget(name: "NNTests", dependencies: ["NN", "CounterRNG"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "CounterRNG"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "Distillation", "Evaluation", "NN", "SwiftMPI"]),
        .testTarget(name: "MultiRankTests", dependencies: ["Diffusion", "FileFormats"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Diffusion", "NN"]),
    ]
)
