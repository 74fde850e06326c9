import Foundation

/// Reverses the bytes of each `elementSize`-byte element in place.
func byteSwapElements(_ raw: UnsafeMutableRawBufferPointer, elementSize: Int) {
    guard elementSize > 1 else { return }
    var start = 0
    while start + elementSize <= raw.count {
        var lo = start, hi = start + elementSize - 1
        while lo < hi {
            raw.swapAt(lo, hi)
            lo += 1
            hi -= 1
        }
        start += elementSize
    }
}

/// Bulk-copies `values` into little-endian bytes.
func littleEndianData<T: BitwiseCopyable>(_ values: [T]) -> Data {
    var data = values.withUnsafeBytes { Data($0) }
    #if _endian(big)
    data.withUnsafeMutableBytes { byteSwapElements($0, elementSize: MemoryLayout<T>.size) }
    #endif
    return data
}

/// Bulk-copies little-endian (or, with `bigEndian`, big-endian) bytes into an array.
/// Trailing bytes that do not fill a whole element are ignored.
func decodeArray<T: BitwiseCopyable>(_ data: Data, as _: T.Type, bigEndian: Bool = false) -> [T] {
    let size = MemoryLayout<T>.stride
    let count = data.count / size
    var result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        data.withUnsafeBytes { raw in
            if count > 0 {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<count * size]))
            }
        }
        initialized = count
    }
    #if _endian(big)
    let swap = !bigEndian
    #else
    let swap = bigEndian
    #endif
    if swap {
        result.withUnsafeMutableBytes { byteSwapElements($0, elementSize: size) }
    }
    return result
}

/// The product of `dims`, or nil if any is negative or the product overflows `Int`.
func checkedProduct(_ dims: [Int]) -> Int? {
    var product = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        guard !overflow else { return nil }
        product = p
    }
    return product
}

/// "[2, 3]" style rendering for messages.
func shapeString(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
