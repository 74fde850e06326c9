import XCTest
import Evaluation

final class FDPlotTests: XCTestCase {
    /// A series of several NFE is a line through its points in NFE order; a series at one NFE
    /// (one generator, or three seeds of one) markers without a line; every point and legend
    /// entry is drawn; names are escaped; points off the log axes (FD <= 0, NFE < 1) are left out.
    func testChartShowsEverySeries() throws {
        let points = [FDPoint(series: "teacher", nfe: 35, fd: 44.9), FDPoint(series: "teacher", nfe: 5, fd: 713),
                      FDPoint(series: "teacher", nfe: 11, fd: 79.5), FDPoint(series: "EMD <one step>", nfe: 1, fd: 60),
                      FDPoint(series: "baseline, 3 seeds", nfe: 1, fd: 170), FDPoint(series: "baseline, 3 seeds", nfe: 1, fd: 180),
                      FDPoint(series: "baseline, 3 seeds", nfe: 1, fd: 240),
                      FDPoint(series: "broken", nfe: 0, fd: 10), FDPoint(series: "broken", nfe: 3, fd: 0)]
        let svg = FDPlot.svg(points, title: "t & u")
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.contains("t &amp; u"))
        XCTAssertTrue(svg.contains("EMD &lt;one step&gt;"))
        XCTAssertFalse(svg.contains("broken"))
        let polylines = svg.components(separatedBy: "<polyline").count - 1
        XCTAssertEqual(polylines, 1)
        // 7 points and 3 legend markers; the seeds' markers are the large ones.
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 10)
        XCTAssertEqual(svg.components(separatedBy: "r=\"7\"").count - 1, 4)
        // The line's x coordinates rise with NFE (5, 11, 35) and its FD falls (y grows downwards).
        let line = try XCTUnwrap(svg.components(separatedBy: "<polyline points=\"").dropFirst().first?.components(separatedBy: "\"").first)
        let xy = line.split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(xy.count, 3)
        XCTAssertTrue(xy[0][0] < xy[1][0] && xy[1][0] < xy[2][0])
        XCTAssertTrue(xy[0][1] < xy[1][1] && xy[1][1] < xy[2][1])
    }
}
