/// A network F(x; c) of a batch of vectors x [batch, inputSize] conditioned on one scalar per
/// sample c [batch], written as a pure function of (parameters, input). The same definition
/// runs with any number of parameter sets; activations live in a workspace made for a batch
/// size, so a forward/backward pair allocates nothing.
public protocol ConditionalNetwork: Sendable {
    var inputSize: Int { get }
    var outputSize: Int { get }
    /// Names, shapes and offsets of every parameter tensor.
    var layout: ParameterLayout { get }
    /// Multiply-adds of one forward pass per sample (matrix products only).
    var macsPerSample: Int { get }
    /// Activation storage for batches of up to `batch` samples.
    func makeWorkspace(batch: Int) -> AnyObject
    /// Class labels the network is conditioned on (0: unconditional). Labels run from 0 to
    /// `classes - 1`; the label `classes` means "no class" (classifier-free guidance's
    /// unconditional branch), and so does passing no labels.
    var classes: Int { get }
    /// out = F(x; c, label). Keeps what the backward pass needs in `workspace`. `labels`
    /// (one per sample, or nil) is read only by class-conditional networks.
    func forward(_ p: Parameters, x: UnsafePointer<Float>, c: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                 out: UnsafeMutablePointer<Float>, batch: Int, workspace: AnyObject)
    /// Backward of the last `forward` on this workspace: accumulates parameter gradients into
    /// `p.grads` when `paramGrads`, and writes dL/dx into `dx` when given.
    func backward(_ p: Parameters, dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, batch: Int,
                  workspace: AnyObject, paramGrads: Bool)
    /// Called by `backward` (on this workspace) as parameter gradients become final: hook(i)
    /// means every gradient at flat offset >= i is complete, so it can be reduced while the
    /// backward pass goes on (DDP's buckets). Networks that do not report call nothing; the
    /// caller reduces whatever remains after `backward`.
    func setGradientHook(_ hook: ((Int) -> Void)?, workspace: AnyObject)
    /// Training forward passes on this workspace draw dropout masks from `key` (nil: no
    /// dropout, as in sampling and evaluation). Networks without dropout ignore it.
    func setDropout(_ key: DropoutKey?, workspace: AnyObject)
    /// While on, the forward passes on this workspace have the conditioning (c and labels),
    /// batch size and parameters of the first one after it was switched on, so the network may
    /// compute what depends only on them once (the E-step's Langevin steps: each chain keeps its
    /// noise level). Networks that cache nothing ignore it.
    func setFixedConditioning(_ on: Bool, workspace: AnyObject)
}

extension ConditionalNetwork {
    /// No progress reports: the whole gradient is final when `backward` returns.
    public func setGradientHook(_ hook: ((Int) -> Void)?, workspace: AnyObject) {}

    /// No dropout.
    public func setDropout(_ key: DropoutKey?, workspace: AnyObject) {}

    /// Nothing cached.
    public func setFixedConditioning(_ on: Bool, workspace: AnyObject) {}

    /// out = F(x; c) with no class label.
    public func forward(_ p: Parameters, x: UnsafePointer<Float>, c: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        batch: Int, workspace: AnyObject) {
        forward(p, x: x, c: c, labels: nil, out: out, batch: batch, workspace: workspace)
    }
}

/// Multi-layer perceptron with SiLU, conditioned through Fourier features of c added into
/// every hidden layer (plain), or a linear stem, pre-norm residual blocks and a linear head
/// (residual). Used for vectors and flattened images.
public struct MLPNetwork: ConditionalNetwork {
    public let inputSize: Int
    public let hidden: Int
    public let depth: Int
    public let embeddingSize: Int
    public let residual: Bool
    public let layout: ParameterLayout
    public var outputSize: Int { inputSize }

    let embedding: FourierEmbedding?
    let layers: [Linear]
    let embLayers: [Linear]
    let blocks: [ResidualMLPBlock]
    let head: Linear

    /// - Parameters: depth: hidden layers (plain) or 1 + residual blocks (residual);
    ///   embeddingSize: Fourier features of c (0: unconditioned).
    public init(inputSize: Int, hidden: Int, depth: Int, embeddingSize: Int = 64, residual: Bool = false) {
        precondition(depth >= 1 && hidden >= 1 && inputSize >= 1, "invalid MLP shape")
        self.inputSize = inputSize
        self.hidden = hidden
        self.depth = depth
        self.embeddingSize = embeddingSize
        self.residual = residual
        var l = ParameterLayout()
        embedding = embeddingSize > 0 ? FourierEmbedding(dimension: embeddingSize) : nil
        var layers: [Linear] = [], embLayers: [Linear] = [], blocks: [ResidualMLPBlock] = []
        let plainDepth = residual ? 1 : depth
        for i in 0..<plainDepth {
            layers.append(Linear(&l, "fc\(i)", in: i == 0 ? inputSize : hidden, out: hidden))
            if embeddingSize > 0 { embLayers.append(Linear(&l, "emb\(i)", in: embeddingSize, out: hidden, bias: false)) }
        }
        if residual {
            for b in 1..<depth { blocks.append(ResidualMLPBlock(&l, "block\(b)", width: hidden, embedding: embeddingSize)) }
        }
        head = Linear(&l, "head", in: hidden, out: inputSize)
        self.layers = layers
        self.embLayers = embLayers
        self.blocks = blocks
        self.layout = l
    }

    public var macsPerSample: Int {
        layers.reduce(0) { $0 + $1.macsPerSample } + embLayers.reduce(0) { $0 + $1.macsPerSample }
            + blocks.reduce(0) { $0 + 2 * $1.fc1.macsPerSample + ($1.embProjection?.macsPerSample ?? 0) }
            + head.macsPerSample
    }

    final class Workspace {
        let input: Tensor
        let emb: Tensor
        let pre: [Tensor]
        let sig: [Tensor]
        let act: [Tensor]
        let blockOut: [Tensor]
        let blockCaches: [ResidualMLPBlock.Cache]
        let headIn: Tensor
        let g1: Tensor
        let g2: Tensor
        /// Each plain layer's embedding term U_i emb(c), kept while the conditioning is fixed.
        let embTerm: [Tensor]
        let batch: Int
        var gradientHook: ((Int) -> Void)?
        /// `setFixedConditioning`: on, and whether `emb` and `embTerm` hold its conditioning.
        var fixedConditioning = false
        var conditioningReady = false
        var conditionedBatch = 0

        init(_ n: MLPNetwork, batch: Int) {
            self.batch = batch
            input = Tensor(shape: [batch, n.inputSize])
            emb = Tensor(shape: [batch, max(n.embeddingSize, 1)])
            pre = n.layers.map { _ in Tensor(shape: [batch, n.hidden]) }
            sig = n.layers.map { _ in Tensor(shape: [batch, n.hidden]) }
            act = n.layers.map { _ in Tensor(shape: [batch, n.hidden]) }
            blockOut = n.blocks.map { _ in Tensor(shape: [batch, n.hidden]) }
            blockCaches = n.blocks.map { $0.makeCache(batch: batch) }
            headIn = Tensor(shape: [batch, n.hidden])
            g1 = Tensor(shape: [batch, n.hidden])
            g2 = Tensor(shape: [batch, n.hidden])
            embTerm = n.residual || n.embeddingSize == 0 ? [] : n.layers.map { _ in Tensor(shape: [batch, n.hidden]) }
        }
    }

    public func makeWorkspace(batch: Int) -> AnyObject { Workspace(self, batch: batch) }

    /// The plain MLP reports after its head and after each hidden layer (whose weight, bias and
    /// embedding map lie above every earlier layer's in the flat buffer).
    public func setGradientHook(_ hook: ((Int) -> Void)?, workspace: AnyObject) {
        unsafeDowncast(workspace, to: Workspace.self).gradientHook = hook
    }

    /// Unconditional on classes.
    public var classes: Int { 0 }

    /// The plain MLP then computes the Fourier features and each layer's embedding term once.
    public func setFixedConditioning(_ on: Bool, workspace: AnyObject) {
        let ws = unsafeDowncast(workspace, to: Workspace.self)
        ws.fixedConditioning = on && !ws.embTerm.isEmpty
        ws.conditioningReady = false
    }

    public func forward(_ p: Parameters, x: UnsafePointer<Float>, c: UnsafePointer<Float>, labels: UnsafePointer<Int32>?,
                        out: UnsafeMutablePointer<Float>, batch: Int, workspace: AnyObject) {
        let ws = unsafeDowncast(workspace, to: Workspace.self)
        precondition(batch <= ws.batch, "batch \(batch) exceeds workspace size \(ws.batch)")
        let n = batch * hidden
        ws.input.data.update(from: x, count: batch * inputSize)
        let reuse = ws.fixedConditioning && ws.conditioningReady
        precondition(!reuse || batch == ws.conditionedBatch, "fixed conditioning with another batch size")
        if let embedding, !reuse { embedding.forward(c, ws.emb.data, batch: batch) }
        var h = UnsafePointer(ws.input.data)
        for (i, layer) in layers.enumerated() {
            layer.forward(p, h, ws.pre[i].data, batch: batch)
            if ws.fixedConditioning {
                if !reuse { embLayers[i].forward(p, ws.emb.data, ws.embTerm[i].data, batch: batch) }
                let pre = ws.pre[i].data, term = ws.embTerm[i].data
                for j in 0..<n { pre[j] += term[j] }
            } else if embedding != nil {
                embLayers[i].forward(p, ws.emb.data, ws.pre[i].data, batch: batch, accumulate: true)
            }
            if residual {
                // The stem stays linear; blocks apply their own nonlinearity.
                ws.act[i].data.update(from: ws.pre[i].data, count: n)
            } else {
                SiLU.forward(ws.pre[i].data, ws.act[i].data, count: n, sigmoid: ws.sig[i].data)
            }
            h = UnsafePointer(ws.act[i].data)
        }
        for (b, block) in blocks.enumerated() {
            block.forward(p, h, emb: embedding != nil ? ws.emb.data : nil, ws.blockOut[b].data, batch: batch,
                          cache: ws.blockCaches[b])
            h = UnsafePointer(ws.blockOut[b].data)
        }
        if residual {
            SiLU.forward(h, ws.headIn.data, count: n, sigmoid: ws.sig[0].data)
            h = UnsafePointer(ws.headIn.data)
        }
        head.forward(p, h, out, batch: batch)
        if ws.fixedConditioning && !reuse {
            ws.conditioningReady = true
            ws.conditionedBatch = batch
        }
    }

    public func backward(_ p: Parameters, dOut: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, batch: Int,
                         workspace: AnyObject, paramGrads: Bool) {
        let ws = unsafeDowncast(workspace, to: Workspace.self)
        let n = batch * hidden
        let emb: UnsafePointer<Float>? = embedding != nil ? UnsafePointer(ws.emb.data) : nil
        var g = ws.g1.data, spare = ws.g2.data
        if residual {
            let last = blocks.isEmpty ? ws.act[0].data : ws.blockOut[blocks.count - 1].data
            head.backward(p, x: ws.headIn.data, dy: dOut, dx: g, batch: batch, paramGrads: paramGrads)
            SiLU.backward(x: last, sigmoid: ws.sig[0].data, dy: g, dx: g, count: n)
            for b in stride(from: blocks.count - 1, through: 0, by: -1) {
                let input = b == 0 ? ws.act[0].data : ws.blockOut[b - 1].data
                blocks[b].backward(p, x: input, emb: emb, dy: g, dx: spare, dEmb: nil, batch: batch,
                                   cache: ws.blockCaches[b], paramGrads: paramGrads)
                swap(&g, &spare)
            }
            // g = dL/d(stem pre-activation).
            if let emb { embLayers[0].backward(p, x: emb, dy: g, dx: nil, batch: batch, paramGrads: paramGrads) }
            if paramGrads || dx != nil {
                layers[0].backward(p, x: ws.input.data, dy: g, dx: dx, batch: batch, paramGrads: paramGrads)
            }
            return
        }
        let lastAct = ws.act[layers.count - 1].data
        head.backward(p, x: lastAct, dy: dOut, dx: g, batch: batch, paramGrads: paramGrads)
        let report = paramGrads ? ws.gradientHook : nil
        report?(head.weight)
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            SiLU.backward(x: ws.pre[i].data, sigmoid: ws.sig[i].data, dy: g, dx: g, count: n)
            if let emb { embLayers[i].backward(p, x: emb, dy: g, dx: nil, batch: batch, paramGrads: paramGrads) }
            let input = i == 0 ? ws.input.data : ws.act[i - 1].data
            let target: UnsafeMutablePointer<Float>? = i == 0 ? dx : spare
            if i > 0 || paramGrads || dx != nil {
                layers[i].backward(p, x: input, dy: g, dx: target, batch: batch, paramGrads: paramGrads)
            }
            report?(embeddingSize > 0 ? min(layers[i].weight, embLayers[i].weight) : layers[i].weight)
            swap(&g, &spare)
        }
    }
}
