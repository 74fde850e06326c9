import FileFormats
import Foundation
import XCTest

final class CSVTests: FileFormatsTestCase {
    func parse(_ text: String) throws -> (rows: Int, cols: Int, values: [Float]) {
        try CSV.parseMatrix(data: Data(text.utf8), path: "m.csv")
    }

    func testGoodFile() throws {
        let path = temp("m.csv")
        try Data("1,2,3\n4.5, -5e-1 ,6\n".utf8).write(to: URL(fileURLWithPath: path))
        let m = try CSV.readMatrix(path: path)
        XCTAssertEqual(m.rows, 2)
        XCTAssertEqual(m.cols, 3)
        XCTAssertEqual(m.values, [1, 2, 3, 4.5, -0.5, 6])
    }

    func testHeaderBlankLinesAndCRLF() throws {
        let m = try parse("x, y\r\n\r\n1,2\r\n   \n3,4\r\n\n")
        XCTAssertEqual(m.rows, 2)
        XCTAssertEqual(m.cols, 2)
        XCTAssertEqual(m.values, [1, 2, 3, 4])
        XCTAssertEqual(try parse("7").values, [7])
    }

    func testErrorsNameTheLine() {
        assertRejects(["m.csv", "line 4: 2 fields, expected 3"]) { try parse("a,b,c\n1,2,3\n\n4,5\n") }
        assertRejects(["line 3, column 2: \"abc\" is not a number"]) { try parse("1,2\n3,4\n5,abc\n") }
        assertRejects(["line 1, column 1: \"id\" is not a number"]) { try parse("id,0.5\n1,2\n") }
        assertRejects(["line 2, column 2: \"\" is not a number"]) { try parse("1,2\n3,\n") }
        assertRejects(["no numeric rows"]) { try parse("\n\n") }
        assertRejects(["no numeric rows"]) { try parse("just,a,header\n") }
        assertRejects(["not valid UTF-8"]) { try CSV.parseMatrix(data: Data([0xFF, 0x31])) }
        assertRejects(["cannot open"]) { try CSV.readMatrix(path: temp("missing.csv")) }
    }
}
