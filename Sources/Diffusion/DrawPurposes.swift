import CounterRNG

/// The random draws of teacher training and sampling (kinds distinct from every other module's).
extension Purpose {
    /// Noise added to a training sample.
    public static let dataNoise = Purpose(kind: 2)
    /// A training sample's noise level.
    public static let dataSigma = Purpose(kind: 3)
    /// The order of a dataset in an epoch.
    public static let shuffle = Purpose(kind: 4)
    /// A sample of the data distribution (a mixture's component and point).
    public static let dataSample = Purpose(kind: 5)
    /// Whether a training sample's class label is dropped ("no class", for guidance).
    public static let labelDropout = Purpose(kind: 6)
    /// The initial noise of a teacher sampler.
    public static let sampling = Purpose(kind: 20)
}
