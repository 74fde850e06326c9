import ArgumentParser
import Foundation
import Evaluation
import FileFormats

/// `emd plot-fd`: FD against NFE from `emd eval --json` results, as an SVG chart.
struct PlotFD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot-fd",
        abstract: "Plot FD against NFE (SVG) from emd eval --json results: teachers as lines over their NFE, one-step generators as markers at NFE 1.")

    @Argument(help: "Series: NAME=EVAL.json[,EVAL.json...]. Each file needs \"fd\" and \"nfe\" (emd eval records both for a checkpoint); EVAL.json@NFE gives the NFE of a file without it.")
    var series: [String]
    @Option(help: "SVG file to write.") var out: String
    @Option(help: "Chart title.") var title = "FD against NFE"

    func run() throws {
        var points: [FDPoint] = []
        for spec in series {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw ValidationError("series \(spec): expected NAME=EVAL.json[,EVAL.json...]")
            }
            let name = String(spec[..<eq])
            for item in spec[spec.index(after: eq)...].split(separator: ",") {
                let parts = item.split(separator: "@", maxSplits: 1).map(String.init)
                let path = parts[0]
                let object = try JSONSerialization.jsonObject(with: try readRegularFile(path))
                guard let dict = object as? [String: Any], let fd = (dict["fd"] as? NSNumber)?.doubleValue, fd.isFinite, fd > 0 else {
                    throw ValidationError("\(path): no positive \"fd\" (write it with emd eval --classifier ... --json)")
                }
                let nfe: Int
                if parts.count == 2 {
                    guard let n = Int(parts[1]), (1...100_000).contains(n) else { throw ValidationError("\(item): NFE must be in 1...100000") }
                    nfe = n
                } else if let n = (dict["nfe"] as? NSNumber)?.intValue, n >= 1 {
                    nfe = n
                } else {
                    throw ValidationError("\(path): no \"nfe\" (an evaluation of a samples file); give it as \(path)@NFE")
                }
                points.append(FDPoint(series: name, nfe: nfe, fd: fd))
            }
        }
        try AtomicFile.write(Data(FDPlot.svg(points, title: title).utf8), to: out)
        for p in points { print("\(p.series): NFE \(p.nfe), FD \(String(format: "%.1f", p.fd))") }
        print("wrote \(out)")
    }
}
