import CounterRNG

/// How a parameter tensor is initialised.
public enum ParameterInit: Sendable, Equatable {
    case zeros
    case ones
    /// Uniform on [-bound, bound].
    case uniform(Float)
    /// Normal with the given standard deviation.
    case normal(Float)
}

/// One named tensor inside a network's flat parameter buffer.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let initializer: ParameterInit
}

/// The ordered list of named parameter tensors of a network: a stable layout of one flat buffer.
public struct ParameterLayout: Sendable, Equatable {
    public private(set) var specs: [ParameterSpec] = []
    /// Total number of scalars.
    public private(set) var count = 0
    private var prefix: [String] = []

    public init() {}

    /// Reserve a tensor and return its offset in the flat buffer.
    public mutating func add(_ name: String, shape: [Int], init initializer: ParameterInit) -> Int {
        let full = (prefix + [name]).joined(separator: ".")
        precondition(!specs.contains { $0.name == full }, "duplicate parameter name \(full)")
        let n = shape.reduce(1, *)
        let offset = count
        specs.append(ParameterSpec(name: full, shape: shape, offset: offset, count: n, initializer: initializer))
        count += n
        return offset
    }

    /// Run `body` with `name` pushed onto the naming scope ("block1.linear.weight").
    public mutating func scope<R>(_ name: String, _ body: (inout ParameterLayout) -> R) -> R {
        prefix.append(name)
        defer { prefix.removeLast() }
        return body(&self)
    }

    /// The spec with this name.
    public func spec(named name: String) -> ParameterSpec? { specs.first { $0.name == name } }
}

/// A network's parameters and their gradients: two flat buffers with the same layout, so one
/// all-reduce moves a whole gradient and a checkpoint can name every tensor.
public final class Parameters {
    public let layout: ParameterLayout
    /// Parameter values (`count` elements).
    public let values: UnsafeMutablePointer<Float>
    /// Gradient accumulators (`count` elements), same layout as `values`.
    public let grads: UnsafeMutablePointer<Float>

    /// Owner of a gradient buffer shared by several parameter sets (nil: this set owns its own).
    private let gradientArena: GradientArena?

    /// Allocate zeroed values and gradients for `layout`.
    public init(layout: ParameterLayout) {
        self.layout = layout
        let n = max(layout.count, 1)
        values = .allocate(capacity: n)
        values.initialize(repeating: 0, count: n)
        grads = .allocate(capacity: n)
        grads.initialize(repeating: 0, count: n)
        gradientArena = nil
    }

    private init(layout: ParameterLayout, arena: GradientArena, offset: Int) {
        self.layout = layout
        let n = max(layout.count, 1)
        values = .allocate(capacity: n)
        values.initialize(repeating: 0, count: n)
        grads = arena.storage + offset
        gradientArena = arena
    }

    /// Parameter sets whose gradients lie back to back in one buffer, in the order given, so a
    /// single all-reduce of `first.grads` over the summed counts moves all of them.
    public static func sharingGradients(_ layouts: [ParameterLayout]) -> [Parameters] {
        let counts = layouts.map { max($0.count, 1) }
        let arena = GradientArena(count: counts.reduce(0, +))
        var offset = 0
        return zip(layouts, counts).map { layout, n in
            defer { offset += n }
            return Parameters(layout: layout, arena: arena, offset: offset)
        }
    }

    deinit {
        values.deallocate()
        if gradientArena == nil { grads.deallocate() }
    }

    /// Number of scalars.
    public var count: Int { layout.count }

    /// Initialise every tensor by its spec, from Philox draws keyed by `seed` and its position.
    public func initialize(seed: UInt64) {
        for (i, spec) in layout.specs.enumerated() {
            let p = values + spec.offset
            let key = DrawKey(seed: seed, step: 0, purpose: .parameterInit.sub(i), index: 0)
            switch spec.initializer {
            case .zeros: p.update(repeating: 0, count: spec.count)
            case .ones: p.update(repeating: 1, count: spec.count)
            case .uniform(let b):
                Draws.uniform(key, into: p, count: spec.count)
                for j in 0..<spec.count { p[j] = (2 * p[j] - 1) * b }
            case .normal(let s):
                Draws.normal(key, into: p, count: spec.count)
                for j in 0..<spec.count { p[j] *= s }
            }
        }
    }

    /// Copy values from `other` (same layout).
    public func copyValues(from other: Parameters) {
        precondition(other.layout == layout, "parameter layouts differ")
        values.update(from: other.values, count: count)
    }

    /// Zero the gradient buffer.
    public func zeroGrads() { grads.update(repeating: 0, count: max(count, 1)) }

    /// Values as a Swift buffer.
    public var valueBuffer: UnsafeMutableBufferPointer<Float> { .init(start: values, count: count) }
    /// Gradients as a Swift buffer.
    public var gradBuffer: UnsafeMutableBufferPointer<Float> { .init(start: grads, count: count) }

    /// A copy of the values of tensor `name`.
    public func tensor(_ name: String) -> [Float]? {
        guard let s = layout.spec(named: name) else { return nil }
        return Array(UnsafeBufferPointer(start: values + s.offset, count: s.count))
    }

    /// Order-sensitive 64-bit checksum of the exact bits of every value (FNV-1a): equal on
    /// two ranks only if the parameters are bit-identical.
    public func checksum() -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<count {
            h ^= UInt64(values[i].bitPattern)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }
}

/// One zeroed gradient buffer shared by the parameter sets of `Parameters.sharingGradients`.
final class GradientArena {
    let storage: UnsafeMutablePointer<Float>
    init(count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: 0, count: count)
    }
    deinit { storage.deallocate() }
}

extension Purpose {
    /// Initial parameter values.
    public static let parameterInit = Purpose(kind: 1)
}
