import NN
import Training

/// The kinds of denoiser network.
public enum NetworkKind: String, Codable, Sendable, CaseIterable {
    /// A multilayer perceptron with a noise embedding.
    case mlp
    /// A residual MLP (linear in, residual SiLU blocks, linear out).
    case resmlp
    /// A small convolutional U-Net over square single-channel images (three resolutions, one
    /// residual block each).
    case unet
    /// An EDM-style U-Net (DDPM++/ADM-like): channel multipliers, several residual blocks per
    /// resolution, self-attention, any number of image channels.
    case edmUnet = "edm-unet"
}

/// The architecture of a denoiser network, stored with every checkpoint.
public struct NetworkConfig: Codable, Sendable, Equatable {
    public var kind: NetworkKind = .mlp
    /// Length of a sample vector (for images: channels * height * width).
    public var dimension: Int = 2
    public var hidden: Int = 128
    public var depth: Int = 3
    /// Fourier features of the noise level.
    public var embedding: Int = 64
    /// U-Net: base channels and image side.
    public var channels: Int = 32
    public var imageSide: Int = 28
    /// Class labels the network is conditioned on (0: unconditional; U-Nets only).
    public var classes: Int = 0
    /// edm-unet: image channels, channel multiplier per resolution, residual blocks per
    /// resolution, resolutions (0 = full) with self-attention.
    public var imageChannels: Int = 1
    public var channelMultipliers: [Int] = [1, 2, 2]
    public var blocksPerLevel: Int = 2
    public var attentionLevels: [Int] = [2]
    /// edm-unet: dropout rate in the residual blocks during teacher training (0: none).
    public var dropout: Float = 0

    public init(kind: NetworkKind = .mlp, dimension: Int, hidden: Int = 128, depth: Int = 3, embedding: Int = 64) {
        self.kind = kind
        self.dimension = dimension
        self.hidden = hidden
        self.depth = depth
        self.embedding = embedding
    }

    enum CodingKeys: String, CodingKey {
        case kind, dimension, hidden, depth, embedding, channels, imageSide, classes
        case imageChannels, channelMultipliers, blocksPerLevel, attentionLevels, dropout
    }

    /// Checkpoints written before class conditioning have no `classes`: unconditional.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(NetworkKind.self, forKey: .kind)
        dimension = try c.decode(Int.self, forKey: .dimension)
        hidden = try c.decode(Int.self, forKey: .hidden)
        depth = try c.decode(Int.self, forKey: .depth)
        embedding = try c.decode(Int.self, forKey: .embedding)
        channels = try c.decode(Int.self, forKey: .channels)
        imageSide = try c.decode(Int.self, forKey: .imageSide)
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? 0
        imageChannels = try c.decodeIfPresent(Int.self, forKey: .imageChannels) ?? 1
        channelMultipliers = try c.decodeIfPresent([Int].self, forKey: .channelMultipliers) ?? [1, 2, 2]
        blocksPerLevel = try c.decodeIfPresent(Int.self, forKey: .blocksPerLevel) ?? 2
        attentionLevels = try c.decodeIfPresent([Int].self, forKey: .attentionLevels) ?? [2]
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
    }

    /// An estimate (an upper bound in practice) of the activation values one sample keeps in a
    /// forward and backward pass, for refusing batches that cannot fit before allocating them.
    public var activationFloatsPerSample: Int? {
        switch kind {
        case .mlp, .resmlp: return ResourceLimits.product([max(hidden, embedding) + dimension, depth + 2, 8])
        case .unet: return ResourceLimits.product([max(channels, 1), max(imageSide, 1), max(imageSide, 1), 24])
        case .edmUnet:
            // Every stage keeps a few maps of up to (largest multiplier x channels) x side^2.
            let stages = max(1, channelMultipliers.count) * (2 * max(blocksPerLevel, 1) + 3) + 6
            return ResourceLimits.product([max(channels, 1), max(channelMultipliers.max() ?? 1, 1), max(imageSide, 1),
                                           max(imageSide, 1), stages, 14])
        }
    }

    /// Build the network definition.
    public func build() throws -> ConditionalNetwork {
        guard dimension > 0, hidden > 0, depth > 0, embedding >= 0, embedding % 2 == 0 else {
            throw ConfigError("network: dimension, hidden and depth must be positive and embedding even, got \(self)")
        }
        // Far above anything trainable here, and small enough that no layout size overflows.
        guard dimension <= 1 << 24, hidden <= 1 << 14, depth <= 1024, embedding <= 1 << 16,
              channels <= 4096, imageSide <= 4096, classes >= 0, classes <= 100_000 else {
            throw ConfigError("network: sizes out of range (dimension <= 2^24, hidden <= 16384, depth <= 1024, embedding <= 65536, channels <= 4096), got \(self)")
        }
        guard dropout.isFinite, dropout >= 0, dropout < 1, dropout == 0 || kind == .edmUnet else {
            throw ConfigError("network: dropout must be in [0, 1) and needs the edm-unet network, got \(dropout) for \(kind.rawValue)")
        }
        guard classes == 0 || kind == .unet || kind == .edmUnet else {
            throw ConfigError("network: class conditioning (classes \(classes)) needs the unet network")
        }
        switch kind {
        case .mlp: return MLPNetwork(inputSize: dimension, hidden: hidden, depth: depth, embeddingSize: embedding)
        case .resmlp:
            return MLPNetwork(inputSize: dimension, hidden: hidden, depth: depth, embeddingSize: embedding, residual: true)
        case .unet:
            guard imageSide * imageSide == dimension, imageSide % 4 == 0, channels > 0 else {
                throw ConfigError("network: unet needs dimension = imageSide^2 with imageSide divisible by 4")
            }
            return UNetNetwork(side: imageSide, channels: channels, embedding: max(embedding, 2), classes: classes)
        case .edmUnet:
            let levels = channelMultipliers.count
            guard (1...6).contains(levels), channelMultipliers.allSatisfy({ (1...16).contains($0) }), (1...8).contains(blocksPerLevel),
                  attentionLevels.allSatisfy({ (0..<levels).contains($0) }), (1...64).contains(imageChannels), channels > 0,
                  imageSide > 0, imageSide % (1 << (levels - 1)) == 0, imageChannels * imageSide * imageSide == dimension else {
                throw ConfigError("network: edm-unet needs dimension = imageChannels x imageSide^2, imageSide divisible by 2^(levels - 1), 1-6 levels with multipliers 1-16, 1-8 blocks per level and attention levels among the levels, got \(self)")
            }
            return EDMUNetNetwork(side: imageSide, imageChannels: imageChannels, channels: channels, multipliers: channelMultipliers,
                                  blocks: blocksPerLevel, attentionLevels: Set(attentionLevels), embedding: max(embedding, 2),
                                  classes: classes, dropout: dropout)
        }
    }
}
