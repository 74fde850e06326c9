import CounterRNG

/// Seeded mutations of byte strings: generic byte-level edits plus edits aware of JSON text
/// (numbers replaced by extreme values, structural characters dropped or added), which is what
/// every format here carries in its header or is made of.
struct Mutator {
    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x0D, 0x08, 0x22, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A]
    static let interesting32: [UInt32] = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF, 0x1_0000, 60000, 784, 28]
    static let interesting64: [UInt64] = [0, 1, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max, 1 << 32, 1 << 40, 100_000_001]
    static let extremeNumbers = ["0", "-1", "-0", "1e308", "1e400", "-1e400", "9223372036854775807", "9223372036854775808",
                                 "18446744073709551616", "4294967296", "1e-400", "0.5", "2147483648", "65536", "1e9",
                                 "123456789012345678901234567890", "NaN", "Infinity", "-9223372036854775808", "3"]
    static let jsonFragments = ["{", "}", "[", "]", "\"", ",", ":", "null", "true", "false", "\"\"", "[]", "{}",
                                "\"F32\"", "\"I64\"", "\"BOOL\"", "\"shape\"", "\"data_offsets\"", "\"dtype\"",
                                "\"__metadata__\"", "\\u0000", "\\ud800", "\u{00e9}", "\u{FFFF}"]

    /// Apply 1 to `maxEdits` random edits to `data`; `textRange` (if any) is where JSON text lives.
    static func mutate(_ input: [UInt8], textRange: Range<Int>?, others: [[UInt8]], maxEdits: Int = 4,
                       rng: inout SplitMix64) -> [UInt8] {
        var d = input
        for _ in 0..<Int.random(in: 1...maxEdits, using: &rng) {
            let text = textRange.map { $0.clamped(to: 0..<d.count) }.flatMap { $0.isEmpty ? nil : $0 }
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: // bit flip
                guard !d.isEmpty else { continue }
                d[Int.random(in: 0..<d.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: // interesting byte
                guard !d.isEmpty else { continue }
                d[Int.random(in: 0..<d.count, using: &rng)] = interestingBytes.randomElement(using: &rng)!
            case 2: // interesting 32-bit integer, either byte order
                guard d.count >= 4 else { continue }
                let i = Int.random(in: 0...(d.count - 4), using: &rng), v = interesting32.randomElement(using: &rng)!
                let big = Bool.random(using: &rng)
                for k in 0..<4 { d[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(big ? 3 - k : k))) }
            case 3: // interesting 64-bit little-endian integer (the safetensors length prefix is one)
                guard d.count >= 8 else { continue }
                let i = Bool.random(using: &rng) ? 0 : Int.random(in: 0...(d.count - 8), using: &rng)
                let v = interesting64.randomElement(using: &rng)!
                for k in 0..<8 { d[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            case 4: // truncate
                d = Array(d.prefix(Int.random(in: 0...d.count, using: &rng)))
            case 5: // delete a range
                guard !d.isEmpty else { continue }
                let a = Int.random(in: 0..<d.count, using: &rng), n = Int.random(in: 1...min(16, d.count - a), using: &rng)
                d.removeSubrange(a..<(a + n))
            case 6: // insert random bytes
                let a = Int.random(in: 0...d.count, using: &rng)
                d.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: a)
            case 7: // duplicate a range
                guard !d.isEmpty else { continue }
                let a = Int.random(in: 0..<d.count, using: &rng), n = Int.random(in: 1...min(64, d.count - a), using: &rng)
                d.insert(contentsOf: d[a..<(a + n)], at: Int.random(in: 0...d.count, using: &rng))
            case 8: // splice with another valid input
                guard let o = others.randomElement(using: &rng), !o.isEmpty, !d.isEmpty else { continue }
                let cut = Int.random(in: 0..<d.count, using: &rng), from = Int.random(in: 0..<o.count, using: &rng)
                d = Array(d[..<cut]) + Array(o[from...])
            case 9, 10: // replace a number in the JSON text with an extreme value
                guard let r = text, let span = numberSpan(in: d, within: r, rng: &rng) else { continue }
                d.replaceSubrange(span, with: Array(extremeNumbers.randomElement(using: &rng)!.utf8))
            default: // insert or delete a JSON fragment
                guard let r = text else { continue }
                let i = Int.random(in: r, using: &rng)
                if Bool.random(using: &rng) {
                    d.insert(contentsOf: Array(jsonFragments.randomElement(using: &rng)!.utf8), at: i)
                } else {
                    d.remove(at: i)
                }
            }
        }
        return d
    }

    /// The span of a random run of number characters inside `range`, if any.
    static func numberSpan(in d: [UInt8], within range: Range<Int>, rng: inout SplitMix64) -> Range<Int>? {
        func isNum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E || c == 0x65 || c == 0x2B }
        var spans: [Range<Int>] = []
        var i = range.lowerBound
        while i < range.upperBound {
            if isNum(d[i]) && (d[i] >= 0x30 && d[i] <= 0x39 || d[i] == 0x2D) {
                var j = i
                while j < range.upperBound && isNum(d[j]) { j += 1 }
                spans.append(i..<j)
                i = j
            } else { i += 1 }
        }
        return spans.randomElement(using: &rng)
    }
}
