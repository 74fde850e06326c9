import Foundation
import SwiftMPI

/// Rank-0 logging: plain lines to standard output, flushed, so logs from batch jobs are complete.
struct RankLog {
    let comm: Communicator
    init(_ comm: Communicator) { self.comm = comm }

    func info(_ line: String) {
        guard comm.isRoot else { return }
        FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
    }

    /// Errors go to standard error from every rank, tagged with the rank.
    func error(_ line: String) {
        FileHandle.standardError.write("[rank \(comm.rank)] error: \(line)\n".data(using: .utf8)!)
    }
}
