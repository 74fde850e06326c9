import XCTest
import FileFormats
import Evaluation

final class ImageGridTests: XCTestCase {
    func testGridLayoutAndGrayMapping() throws {
        let side = 4, count = 3
        var images = [Float](repeating: 0, count: count * side * side)
        for i in 0..<count { for p in 0..<(side * side) { images[i * side * side + p] = Float(i) - 1 } }  // -1, 0, 1
        images[5] = 7       // clamps to 255
        images[6] = -3      // clamps to 0
        let png = try ImageGrid.png(images: images, count: count, side: side, columns: 2, padding: 1)
        let img = try PNG.decode(data: png)
        XCTAssertEqual(img.channels, 1)
        XCTAssertEqual(img.width, 2 * side + 1)
        XCTAssertEqual(img.height, 2 * side + 1)
        func px(_ x: Int, _ y: Int) -> UInt8 { img.pixels[y * img.width + x] }
        XCTAssertEqual(px(0, 0), 0)                       // image 0: -1
        XCTAssertEqual(px(1, 1), 255)                     // index 5 = (1, 1): clamped 7
        XCTAssertEqual(px(2, 1), 0)                       // index 6: clamped -3
        XCTAssertEqual(px(side + 1, 0), 128)              // image 1 (0 -> 127.5 -> 128)
        XCTAssertEqual(px(0, side + 1), 255)              // image 2 on the second row: 1
        XCTAssertEqual(px(side, 0), 128)                  // padding column
        XCTAssertEqual(px(side + 1, side + 1), 128)       // empty cell
        XCTAssertThrowsError(try ImageGrid.png(images: images, count: 4, side: side, columns: 2))
    }
}
