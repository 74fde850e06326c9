import CounterRNG

/// The random draws of distillation (kinds distinct from every other module's), each keyed
/// with (seed, step, global sample index); Langevin and student draws add their step as `sub`.
extension Purpose {
    /// z_0, a chain's initial latent.
    public static let latent = Purpose(kind: 10)
    /// eps_0, a chain's initial noise.
    public static let initialEps = Purpose(kind: 11)
    /// A chain's noise level in the distillation range.
    public static let distillSigma = Purpose(kind: 12)
    /// xi_k, the eps noise of Langevin step k.
    public static let langevinEps = Purpose(kind: 13)
    /// zeta_k, the z noise of Langevin step k.
    public static let langevinZ = Purpose(kind: 14)
    /// z' of student update j.
    public static let studentLatent = Purpose(kind: 15)
    /// sigma' of student update j.
    public static let studentSigma = Purpose(kind: 16)
    /// n of student update j.
    public static let studentNoise = Purpose(kind: 17)
    /// A chain's class label (class-conditional distillation).
    public static let chainClass = Purpose(kind: 18)
    /// The class label of student update j's sample.
    public static let studentClass = Purpose(kind: 19)
    /// Latents of the one-step generator's evaluation samples.
    public static let evaluation = Purpose(kind: 21)
}
