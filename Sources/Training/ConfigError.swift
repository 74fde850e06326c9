/// A setting, flag or input that cannot be used, with a message naming it and why.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An error every rank raised alike, after a collective told each the same outcome (a refused
/// resume, a folder in use): one report says it all, so rank 0 alone prints it, and no rank
/// needs to abort the others, since none is left inside a collective.
public struct AgreedError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
