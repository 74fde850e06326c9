import Foundation

/// Reader for numeric comma-separated matrices.
public enum CSV {
    /// Reads a matrix of numbers from `path`. See `parseMatrix(data:path:)`.
    public static func readMatrix(path: String) throws -> (rows: Int, cols: Int, values: [Float]) {
        try parseMatrix(data: readWholeFile(path), path: path)
    }

    /// Parses comma-separated numbers into a row-major matrix.
    ///
    /// Lines end in `\n` or `\r\n`; blank lines are ignored; the first non-blank line is skipped
    /// as a header if none of its fields is a number. Ragged rows, empty fields and non-numbers
    /// throw, naming the line (1-based) and column.
    public static func parseMatrix(data: Data, path: String = FileFormatError.inMemory) throws
        -> (rows: Int, cols: Int, values: [Float]) {
        let bytes = [UInt8](data)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw FileFormatError(path: path, "CSV is not valid UTF-8 text")
        }
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
        var values: [Float] = []
        var rows = 0
        var cols: Int?
        var sawFirstLine = false
        var lineNumber = 0
        var lineStart = 0
        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            let line = bytes[lineStart..<lineEnd]
            if line.allSatisfy(isBlank) { continue }
            let fields = line.split(separator: 0x2C, omittingEmptySubsequences: false).map { field -> String in
                var slice = field[...]
                while let f = slice.first, isBlank(f) { slice = slice.dropFirst() }
                while let l = slice.last, isBlank(l) { slice = slice.dropLast() }
                return String(decoding: slice, as: UTF8.self)
            }
            let numbers = fields.map { Float($0) }
            if !sawFirstLine {
                sawFirstLine = true
                if numbers.allSatisfy({ $0 == nil }) { continue }  // header line
            }
            let expected = cols ?? fields.count
            guard fields.count == expected else {
                throw FileFormatError(path: path, "line \(lineNumber): \(fields.count) fields, expected \(expected) like the first row")
            }
            cols = expected
            for (i, number) in numbers.enumerated() {
                guard let number else {
                    throw FileFormatError(path: path, "line \(lineNumber), column \(i + 1): \"\(fields[i])\" is not a number")
                }
                values.append(number)
            }
            rows += 1
        }
        guard rows > 0, let cols else { throw FileFormatError(path: path, "CSV contains no numeric rows") }
        return (rows, cols, values)
    }
}
