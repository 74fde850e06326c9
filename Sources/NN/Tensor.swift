/// A contiguous, row-major Float buffer with a shape. Reference type: workspaces hand the
/// same storage to successive steps without copying or reallocating.
public final class Tensor {
    /// Dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Number of elements.
    public private(set) var count: Int
    /// Start of the storage (`count` elements, capacity `capacity`).
    public let data: UnsafeMutablePointer<Float>
    /// Elements allocated; `reshape` may use any count up to this.
    public let capacity: Int

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(n >= 0, "negative tensor size")
        self.shape = shape
        count = n
        capacity = max(n, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    /// A tensor holding `values` with the given shape.
    public convenience init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values do not fill shape \(shape)")
        self.init(shape: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { data.deallocate() }

    /// Change the shape without moving data; the new size must fit in `capacity`.
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(n <= capacity, "reshape \(newShape) exceeds capacity \(capacity)")
        shape = newShape
        count = n
    }

    /// The buffer as a Swift buffer pointer over `count` elements.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }

    /// A copy of the elements.
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Set every element to zero.
    @inlinable public func zero() { data.update(repeating: 0, count: count) }

    /// Set every element to `value`.
    @inlinable public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Copy the elements of `other` (same count).
    @inlinable public func copy(from other: Tensor) {
        precondition(other.count == count)
        data.update(from: other.data, count: count)
    }

    @inlinable public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// The row length (product of all but the first dimension).
    public var rowSize: Int { shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *) }
}
