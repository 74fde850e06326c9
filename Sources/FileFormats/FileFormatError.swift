import Foundation

/// An error raised while reading, validating or writing one of the supported file formats.
///
/// Every error names the file (or `"<memory>"` for data that did not come from a file) and the
/// problem, e.g. `checkpoint.safetensors: header length 9999999 exceeds file size 120`.
public struct FileFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path used for data that did not come from a file.
    public static let inMemory = "<memory>"

    /// The file in which the problem was found, or `"<memory>"`.
    public let path: String
    /// A human-readable description of the problem (without the path).
    public let problem: String

    /// Creates an error for `path` describing `problem`.
    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    /// `"<path>: <problem>"`.
    public var description: String { "\(path): \(problem)" }
}

extension FileFormatError: LocalizedError {
    /// Same as `description`, so `localizedDescription` is informative too.
    public var errorDescription: String? { description }
}
