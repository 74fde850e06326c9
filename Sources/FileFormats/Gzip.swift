import CZlib
import Foundation

/// Default cap on decompressed output of `gunzip` (2 GiB).
public let gunzipDefaultLimit = 2 << 30

/// Whether `data` starts with the gzip magic bytes 0x1f 0x8b.
public func isGzip(_ data: Data) -> Bool {
    data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
}

/// Decompresses gzip data (concatenated members allowed), streaming, refusing output larger than
/// `maxOutputBytes`. Truncated or corrupt input throws a `FileFormatError` naming `path`.
public func gunzip(_ data: Data, path: String = FileFormatError.inMemory,
                   maxOutputBytes: Int = gunzipDefaultLimit) throws -> Data {
    guard isGzip(data) else {
        throw FileFormatError(path: path, "not gzip data (missing 1f 8b magic)")
    }
    return try zlibInflate(data, windowBits: 15 + 32, maxOutput: maxOutputBytes, path: path,
                           what: "gzip", concatenatedGzipMembers: true)
}

/// Compresses `data` into the gzip format.
public func gzip(_ data: Data, level: Int = 6) throws -> Data {
    try zlibDeflate(data, level: Int32(clamping: level), windowBits: 15 + 16)
}

private let zlibChunk = 1 << 16
private let zlibMaxFeed = 1 << 30

/// Streaming inflate. `windowBits` selects the container (15 zlib, 15+16 gzip, 15+32 auto).
func zlibInflate(_ input: Data, windowBits: Int32, maxOutput: Int, path: String, what: String,
                 concatenatedGzipMembers: Bool = false) throws -> Data {
    func fail(_ message: String) -> FileFormatError { FileFormatError(path: path, "\(what): \(message)") }
    var stream = z_stream()
    guard czlib_inflate_init2(&stream, windowBits) == Z_OK else { throw fail("cannot initialise zlib") }
    defer { inflateEnd(&stream) }
    let outBuffer = UnsafeMutablePointer<Bytef>.allocate(capacity: zlibChunk)
    defer { outBuffer.deallocate() }
    var output = Data()

    try input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        guard let base = raw.baseAddress?.assumingMemoryBound(to: Bytef.self) else {
            throw fail("compressed data is truncated (empty)")
        }
        let total = raw.count
        var fed = 0
        while true {
            if stream.avail_in == 0 && fed < total {
                let n = min(total - fed, zlibMaxFeed)
                stream.next_in = UnsafeMutablePointer(mutating: base + fed)
                stream.avail_in = uInt(n)
                fed += n
            }
            stream.next_out = outBuffer
            stream.avail_out = uInt(zlibChunk)
            let status = inflate(&stream, Z_NO_FLUSH)
            let produced = zlibChunk - Int(stream.avail_out)
            if produced > 0 {
                guard produced <= maxOutput - output.count else {
                    throw fail("decompressed size exceeds the \(maxOutput)-byte limit")
                }
                output.append(outBuffer, count: produced)
            }
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                let remaining = total - fed + Int(stream.avail_in)
                if remaining == 0 { return }
                let next = total - remaining
                if concatenatedGzipMembers, remaining >= 2, base[next] == 0x1f, base[next + 1] == 0x8b {
                    guard inflateReset(&stream) == Z_OK else { throw fail("cannot reset zlib") }
                    continue
                }
                throw fail("\(remaining) unexpected bytes after the end of the compressed stream")
            case Z_BUF_ERROR where stream.avail_in == 0 && fed == total:
                throw fail("compressed data is truncated (stream ends after \(total) bytes)")
            case Z_MEM_ERROR:
                throw fail("zlib out of memory")
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw fail("corrupt compressed data: \(detail)")
            }
        }
    }
    return output
}

/// Streaming deflate. `windowBits` 15 gives the zlib container, 15+16 gzip.
func zlibDeflate(_ input: Data, level: Int32, windowBits: Int32) throws -> Data {
    func fail(_ message: String) -> FileFormatError { FileFormatError(path: FileFormatError.inMemory, "deflate: \(message)") }
    var stream = z_stream()
    guard czlib_deflate_init2(&stream, level, windowBits) == Z_OK else { throw fail("cannot initialise zlib") }
    defer { deflateEnd(&stream) }
    let outBuffer = UnsafeMutablePointer<Bytef>.allocate(capacity: zlibChunk)
    defer { outBuffer.deallocate() }
    var output = Data()

    try input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        let base = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
        let total = raw.count
        var fed = 0
        var flush = Z_NO_FLUSH
        repeat {
            let n = min(total - fed, zlibMaxFeed)
            stream.next_in = base.map { UnsafeMutablePointer(mutating: $0 + fed) }
            stream.avail_in = uInt(n)
            fed += n
            flush = fed == total ? Z_FINISH : Z_NO_FLUSH
            repeat {
                stream.next_out = outBuffer
                stream.avail_out = uInt(zlibChunk)
                let status = deflate(&stream, flush)
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw fail("zlib error \(status)")
                }
                output.append(outBuffer, count: zlibChunk - Int(stream.avail_out))
            } while stream.avail_out == 0
        } while flush != Z_FINISH
    }
    return output
}

/// zlib's CRC-32 of `data`, continuing from `crc`.
func crc32Checksum(_ data: Data, start crc: UInt32 = 0) -> UInt32 {
    data.withUnsafeBytes { raw -> UInt32 in
        var value = uLong(crc)
        var offset = 0
        while offset < raw.count, let base = raw.baseAddress?.assumingMemoryBound(to: Bytef.self) {
            let n = min(raw.count - offset, zlibMaxFeed)
            value = crc32(value, base + offset, uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
