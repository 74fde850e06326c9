import Foundation

/// Minimal 8-bit grayscale / RGB PNG encoder and decoder.
public enum PNG {
    private static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    private static let idatChunkSize = 1 << 20
    /// Largest decoded image (bytes of filtered scanlines) `decode` accepts.
    public static let maxDecodedBytes = 1 << 31

    /// Encodes row-major 8-bit pixels (`channels` 1 = gray, 3 = RGB, interleaved) as PNG.
    /// Throws if the dimensions are invalid or `pixels.count != width * height * channels`.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> Data {
        let fail = { (m: String) in FileFormatError(path: FileFormatError.inMemory, "PNG: \(m)") }
        guard channels == 1 || channels == 3 else { throw fail("channels must be 1 or 3, got \(channels)") }
        guard (1...0x7FFF_FFFF).contains(width), (1...0x7FFF_FFFF).contains(height) else {
            throw fail("invalid size \(width)x\(height)")
        }
        guard let count = checkedProduct([width, height, channels]) else {
            throw fail("size \(width)x\(height)x\(channels) is too large")
        }
        guard count == pixels.count else {
            throw fail("\(width)x\(height)x\(channels) image needs \(count) pixel bytes, got \(pixels.count)")
        }
        let rowBytes = width * channels
        var raw = Data(capacity: height * (rowBytes + 1))
        pixels.withUnsafeBytes { src in
            guard let base = src.baseAddress else { return }
            for y in 0..<height {
                raw.append(0)  // filter type 0 (None)
                raw.append(base.assumingMemoryBound(to: UInt8.self) + y * rowBytes, count: rowBytes)
            }
        }
        var ihdr = Data()
        appendBigEndian(UInt32(width), to: &ihdr)
        appendBigEndian(UInt32(height), to: &ihdr)
        ihdr.append(contentsOf: [8, channels == 1 ? 0 : 2, 0, 0, 0])

        var out = Data(signature)
        appendChunk("IHDR", ihdr, to: &out)
        let compressed = try zlibDeflate(raw, level: 6, windowBits: 15)
        var offset = 0
        repeat {
            let n = min(idatChunkSize, compressed.count - offset)
            appendChunk("IDAT", compressed.subdata(in: offset..<offset + n), to: &out)
            offset += n
        } while offset < compressed.count
        appendChunk("IEND", Data(), to: &out)
        return out
    }

    /// Encodes like `encode` and writes the result to `path` atomically.
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        try AtomicFile.write(encode(width: width, height: height, channels: channels, pixels: pixels), to: path)
    }

    /// Decodes a non-interlaced 8-bit grayscale or RGB PNG (all five filter types).
    public static func decode(data: Data, path: String = FileFormatError.inMemory) throws
        -> (width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        let bytes = data.startIndex == 0 ? data : Data(data)
        let fail = { (m: String) in FileFormatError(path: path, "PNG: \(m)") }
        guard bytes.count >= 8, bytes.prefix(8).elementsEqual(signature) else { throw fail("missing PNG signature") }

        var pos = 8
        var header: (width: Int, height: Int, channels: Int)?
        var idat = Data()
        var sawEnd = false
        while !sawEnd {
            guard bytes.count - pos >= 12 else { throw fail("truncated chunk at byte \(pos)") }
            let length = Int(readBigEndian(bytes, pos))
            let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
            guard length <= bytes.count - pos - 12 else {
                throw fail("chunk \(type) length \(length) exceeds the \(bytes.count - pos - 12) remaining bytes")
            }
            let body = bytes.subdata(in: (pos + 8)..<(pos + 8 + length))
            let critical = (bytes[pos + 4] & 0x20) == 0
            let storedCRC = readBigEndian(bytes, pos + 8 + length)
            guard crc32Checksum(body, start: crc32Checksum(bytes.subdata(in: (pos + 4)..<(pos + 8)))) == storedCRC else {
                throw fail("CRC mismatch in chunk \(type)")
            }
            pos += 12 + length
            if header == nil && type != "IHDR" { throw fail("first chunk is \(type), expected IHDR") }
            switch type {
            case "IHDR":
                guard header == nil, length == 13 else { throw fail("invalid IHDR chunk") }
                let width = Int(readBigEndian(body, 0)), height = Int(readBigEndian(body, 4))
                guard width > 0, height > 0 else { throw fail("invalid size \(width)x\(height)") }
                guard body[8] == 8 else { throw fail("unsupported bit depth \(body[8]) (only 8)") }
                let channels: Int
                switch body[9] {
                case 0: channels = 1
                case 2: channels = 3
                default: throw fail("unsupported color type \(body[9]) (only 0 gray and 2 RGB)")
                }
                guard body[10] == 0, body[11] == 0 else { throw fail("unsupported compression or filter method") }
                guard body[12] == 0 else { throw fail("interlaced images are not supported") }
                header = (width, height, channels)
            case "IDAT":
                idat.append(body)
            case "IEND":
                sawEnd = true
            default:
                // Ancillary chunks (lowercase first letter) and the optional PLTE may be skipped.
                if critical && type != "PLTE" { throw fail("unsupported critical chunk \(type)") }
            }
        }
        guard let (width, height, channels) = header else { throw fail("missing IHDR") }
        guard let pixelCount = checkedProduct([width, height, channels]),
              case let (rawCount, o1) = pixelCount.addingReportingOverflow(height), !o1,
              rawCount <= maxDecodedBytes else {
            throw fail("image \(width)x\(height) is too large")
        }
        let raw = try zlibInflate(idat, windowBits: 15, maxOutput: rawCount, path: path, what: "PNG image data")
        guard raw.count == rawCount else {
            throw fail("image data is \(raw.count) bytes, expected \(rawCount) for \(width)x\(height)x\(channels)")
        }
        let pixels = try unfilter(raw, width: width, height: height, channels: channels, fail: fail)
        return (width, height, channels, pixels)
    }

    private static func unfilter(_ raw: Data, width: Int, height: Int, channels: Int,
                                 fail: (String) -> FileFormatError) throws -> [UInt8] {
        let rowBytes = width * channels
        var pixels = [UInt8](repeating: 0, count: rowBytes * height)
        try raw.withUnsafeBytes { src in
            try pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let filter = src[y * (rowBytes + 1)]
                    let inRow = y * (rowBytes + 1) + 1
                    let row = y * rowBytes, prev = row - rowBytes
                    for x in 0..<rowBytes {
                        let a = x >= channels ? Int(dst[row + x - channels]) : 0
                        let b = y > 0 ? Int(dst[prev + x]) : 0
                        let c = (x >= channels && y > 0) ? Int(dst[prev + x - channels]) : 0
                        let predictor: Int
                        switch filter {
                        case 0: predictor = 0
                        case 1: predictor = a
                        case 2: predictor = b
                        case 3: predictor = (a + b) / 2
                        case 4:
                            let p = a + b - c
                            let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                            predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                        default: throw fail("invalid filter type \(filter) on row \(y)")
                        }
                        dst[row + x] = src[inRow + x] &+ UInt8(truncatingIfNeeded: predictor)
                    }
                }
            }
        }
        return pixels
    }

    private static func appendChunk(_ type: String, _ body: Data, to out: inout Data) {
        let typeBytes = Data(type.utf8)
        appendBigEndian(UInt32(body.count), to: &out)
        out.append(typeBytes)
        out.append(body)
        appendBigEndian(crc32Checksum(body, start: crc32Checksum(typeBytes)), to: &out)
    }
}

func appendBigEndian(_ value: UInt32, to data: inout Data) {
    data.append(contentsOf: [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)])
}

/// The big-endian UInt32 at `offset` of a zero-based `Data`; the caller checks bounds.
func readBigEndian(_ data: Data, _ offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(data[offset + $1]) }
}
