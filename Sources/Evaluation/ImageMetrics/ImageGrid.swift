import Foundation
import FileFormats

/// Tiles of square single-channel images as one grayscale picture.
public enum ImageGrid {
    /// 8-bit pixels of a grid of `count` images (`side` x `side`, values in [-1, 1] mapped to
    /// 0...255, clamped) in rows of `columns`, separated by `padding` mid-gray pixels.
    public static func pixels(images: [Float], count: Int, side: Int = 28, columns: Int, padding: Int = 0) throws
        -> (width: Int, height: Int, pixels: [UInt8]) {
        guard count > 0, side > 0, columns > 0, padding >= 0 else {
            throw ImageEvaluationError("image grid: need count, side and columns > 0 (got \(count), \(side), \(columns))")
        }
        guard images.count >= count * side * side else {
            throw ImageEvaluationError("image grid: \(images.count) values do not hold \(count) images of \(side)x\(side)")
        }
        let cols = min(columns, count), rows = (count + cols - 1) / cols
        let cell = side + padding
        let width = cols * cell - padding, height = rows * cell - padding
        var out = [UInt8](repeating: 128, count: width * height)
        for i in 0..<count {
            let x0 = (i % cols) * cell, y0 = (i / cols) * cell, src = i * side * side
            for y in 0..<side {
                for x in 0..<side {
                    let v = images[src + y * side + x]
                    let g = v.isNaN ? 0 : (min(max(v, -1), 1) + 1) * 127.5
                    out[(y0 + y) * width + x0 + x] = UInt8(g.rounded())
                }
            }
        }
        return (width, height, out)
    }

    /// PNG bytes of the grid described in `pixels(images:count:side:columns:padding:)`.
    public static func png(images: [Float], count: Int, side: Int = 28, columns: Int, padding: Int = 0) throws -> Data {
        let g = try pixels(images: images, count: count, side: side, columns: columns, padding: padding)
        return try PNG.encode(width: g.width, height: g.height, channels: 1, pixels: g.pixels)
    }
}
