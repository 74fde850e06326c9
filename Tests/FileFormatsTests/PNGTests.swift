import FileFormats
import Foundation
import XCTest
import CounterRNG

final class PNGTests: FileFormatsTestCase {
    func randomPixels(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// Splits a PNG into (type, body) chunks, checking each CRC with an independent CRC-32.
    func chunks(_ png: Data) -> [(String, [UInt8])] {
        let bytes = [UInt8](png)
        var result: [(String, [UInt8])] = []
        var pos = 8
        while pos + 12 <= bytes.count {
            let length = Int(bytes[pos]) << 24 | Int(bytes[pos + 1]) << 16 | Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
            guard pos + 12 + length <= bytes.count else { XCTFail("chunk overruns file"); break }
            let typeAndBody = Array(bytes[(pos + 4)..<(pos + 8 + length)])
            let crc = Array(bytes[(pos + 8 + length)..<(pos + 12 + length)])
            XCTAssertEqual(crc, bigEndianBytes(referenceCRC32(typeAndBody)), "CRC of chunk at \(pos)")
            result.append((String(decoding: typeAndBody.prefix(4), as: UTF8.self), Array(typeAndBody.dropFirst(4))))
            pos += 12 + length
        }
        XCTAssertEqual(pos, bytes.count, "trailing bytes after last chunk")
        return result
    }

    func testRoundTripGrayAndRGB() throws {
        for (width, height, channels) in [(7, 5, 1), (13, 4, 3), (1, 1, 1), (1, 1, 3), (300, 2, 3)] {
            let pixels = randomPixels(width * height * channels, seed: UInt64(width * 100 + height * 10 + channels))
            let png = try PNG.encode(width: width, height: height, channels: channels, pixels: pixels)
            let decoded = try PNG.decode(data: png)
            XCTAssertEqual(decoded.width, width)
            XCTAssertEqual(decoded.height, height)
            XCTAssertEqual(decoded.channels, channels)
            XCTAssertEqual(decoded.pixels, pixels)
        }
    }

    func testSignatureIHDRAndCRCs() throws {
        let png = try PNG.encode(width: 300, height: 2, channels: 3, pixels: randomPixels(1800, seed: 3))
        XCTAssertEqual([UInt8](png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let parts = chunks(png)
        XCTAssertEqual(parts.first?.0, "IHDR")
        XCTAssertEqual(parts.first?.1, bigEndianBytes(300) + bigEndianBytes(2) + [8, 2, 0, 0, 0])
        XCTAssertEqual(parts.last?.0, "IEND")
        XCTAssertTrue(parts.contains { $0.0 == "IDAT" })
        let gray = try PNG.encode(width: 4, height: 3, channels: 1, pixels: Array(repeating: 0, count: 12))
        XCTAssertEqual(chunks(gray).first?.1, bigEndianBytes(4) + bigEndianBytes(3) + [8, 0, 0, 0, 0])
    }

    func testWriteToFile() throws {
        let path = temp("sample.png")
        let pixels = randomPixels(28 * 28, seed: 9)
        try PNG.write(path: path, width: 28, height: 28, channels: 1, pixels: pixels)
        let decoded = try PNG.decode(data: Data(contentsOf: URL(fileURLWithPath: path)), path: path)
        XCTAssertEqual(decoded.pixels, pixels)
    }

    /// Builds a PNG with filter types 0-4 (stored deflate blocks, reference CRC) and decodes it.
    func testDecodeAllFilterTypes() throws {
        let width = 5, height = 10, bpp = 3
        let rowBytes = width * bpp
        let image = randomPixels(rowBytes * height, seed: 77)
        var raw: [UInt8] = []
        for y in 0..<height {
            let filter = UInt8(y % 5)
            raw.append(filter)
            for x in 0..<rowBytes {
                let a = x >= bpp ? Int(image[y * rowBytes + x - bpp]) : 0
                let b = y > 0 ? Int(image[(y - 1) * rowBytes + x]) : 0
                let c = x >= bpp && y > 0 ? Int(image[(y - 1) * rowBytes + x - bpp]) : 0
                let predictor: Int
                switch filter {
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: predictor = 0
                }
                raw.append(image[y * rowBytes + x] &- UInt8(predictor))
            }
        }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return bigEndianBytes(UInt32(body.count)) + typed + bigEndianBytes(referenceCRC32(typed))
        }
        let zlib = storedZlibStream(raw)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndianBytes(UInt32(width)) + bigEndianBytes(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("tEXt", Array("Comment\0filters".utf8))
        png += chunk("IDAT", Array(zlib.prefix(20)))  // image data split across two IDAT chunks
        png += chunk("IDAT", Array(zlib.dropFirst(20)))
        png += chunk("IEND", [])
        let decoded = try PNG.decode(data: Data(png))
        XCTAssertEqual(decoded.channels, 3)
        XCTAssertEqual(decoded.pixels, image)
    }

    func testRejections() throws {
        let good = try PNG.encode(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        assertRejects(["img.png", "missing PNG signature"]) { try PNG.decode(data: Data("not a png".utf8), path: "img.png") }
        var corrupted = good
        corrupted[20] ^= 0xFF  // inside IHDR
        assertRejects(["CRC mismatch in chunk IHDR"]) { try PNG.decode(data: corrupted) }
        assertRejects(["truncated chunk"]) { try PNG.decode(data: good.prefix(good.count - 5)) }
        assertRejects(["channels must be 1 or 3"]) { try PNG.encode(width: 1, height: 1, channels: 2, pixels: [0, 0]) }
        assertRejects(["needs 6 pixel bytes, got 5"]) { try PNG.encode(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5]) }
        assertRejects(["invalid size"]) { try PNG.encode(width: 0, height: 2, channels: 1, pixels: []) }
    }
}
