import NN
import Training

/// The kinds of denoiser network.
public enum NetworkKind: String, Codable, Sendable, CaseIterable {
    /// A multilayer perceptron with a noise embedding.
    case mlp
    /// A residual MLP (linear in, residual SiLU blocks, linear out).
    case resmlp
    /// A convolutional U-Net over square images.
    case unet
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
    /// Class labels the network is conditioned on (0: unconditional; U-Net only).
    public var classes: Int = 0

    public init(kind: NetworkKind = .mlp, dimension: Int, hidden: Int = 128, depth: Int = 3, embedding: Int = 64) {
        self.kind = kind
        self.dimension = dimension
        self.hidden = hidden
        self.depth = depth
        self.embedding = embedding
    }

    enum CodingKeys: String, CodingKey { case kind, dimension, hidden, depth, embedding, channels, imageSide, classes }

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
    }

    /// An estimate (an upper bound in practice) of the activation values one sample keeps in a
    /// forward and backward pass, for refusing batches that cannot fit before allocating them.
    public var activationFloatsPerSample: Int? {
        switch kind {
        case .mlp, .resmlp: return ResourceLimits.product([max(hidden, embedding) + dimension, depth + 2, 8])
        case .unet: return ResourceLimits.product([max(channels, 1), max(imageSide, 1), max(imageSide, 1), 24])
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
        guard classes == 0 || kind == .unet else {
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
        }
    }
}
