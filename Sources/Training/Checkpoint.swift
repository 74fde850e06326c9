import Foundation
import FileFormats
import NN

/// A training state as named tensors plus string metadata, stored as safetensors.
/// Tensors are grouped by prefix: "params.fc0.weight", "ema.fc0.weight", "adam_m.fc0.weight"...
public struct Checkpoint {
    public var tensors: [String: (shape: [Int], values: [Float])] = [:]
    public var metadata: [String: String] = [:]
    /// The file this checkpoint was read from (for error messages).
    public var path: String = "<memory>"

    public init() {}

    /// Add every tensor of `layout` read from `values` under `group`.
    public mutating func add(group: String, layout: ParameterLayout, values: UnsafePointer<Float>) {
        for s in layout.specs {
            tensors["\(group).\(s.name)"] = (s.shape, Array(UnsafeBufferPointer(start: values + s.offset, count: s.count)))
        }
    }

    /// Add one raw tensor.
    public mutating func add(_ name: String, shape: [Int], values: [Float]) { tensors[name] = (shape, values) }

    /// Whether every tensor of `layout` is present under `group` with its shape.
    public func matches(group: String, layout: ParameterLayout) -> Bool {
        layout.specs.allSatisfy { tensors["\(group).\($0.name)"]?.shape == $0.shape }
    }

    /// Whether every tensor of `layout` is present under `group`.
    public func has(group: String, layout: ParameterLayout) -> Bool {
        layout.specs.allSatisfy { tensors["\(group).\($0.name)"] != nil }
    }

    /// Copy the tensors of `group` into `values`, checking names and shapes against `layout`.
    public func load(group: String, layout: ParameterLayout, into values: UnsafeMutablePointer<Float>) throws {
        for s in layout.specs {
            let name = "\(group).\(s.name)"
            guard let t = tensors[name] else {
                throw FileFormatError(path: path, "tensor \(name) missing (does the checkpoint match the configured network?)")
            }
            guard t.shape == s.shape, t.values.count == s.count else {
                throw FileFormatError(path: path, "tensor \(name) has shape \(t.shape), the configured network needs \(s.shape)")
            }
            guard t.values.allSatisfy({ $0.isFinite }) else {
                throw FileFormatError(path: path, "tensor \(name) holds non-finite values")
            }
            t.values.withUnsafeBufferPointer { (values + s.offset).update(from: $0.baseAddress!, count: s.count) }
        }
    }

    /// A metadata value, or an error naming the file.
    public func meta(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw FileFormatError(path: path, "metadata key '\(key)' missing") }
        return v
    }

    /// An integer metadata value.
    public func metaInt(_ key: String) throws -> Int {
        guard let v = Int(try meta(key)) else { throw FileFormatError(path: path, "metadata '\(key)' is not an integer") }
        return v
    }

    /// Decode a JSON metadata value.
    public func metaJSON<T: Decodable>(_ key: String, as type: T.Type) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(try meta(key).utf8)) } catch let e as FileFormatError {
            throw e
        } catch {
            throw FileFormatError(path: path, "metadata '\(key)' is not valid: \(error)")
        }
    }

    /// The name of the first tensor holding a NaN or an infinity, if any.
    public var firstNonFiniteTensor: String? {
        tensors.keys.sorted().first { name in !tensors[name]!.values.withUnsafeBufferPointer { $0.isEmpty || allFinite($0.baseAddress!, count: $0.count) } }
    }

    /// Write atomically to `path` (temporary file, fsync, rename). A state holding NaN or
    /// infinity is refused: it would be a model that only looks trained.
    public func write(to path: String) throws {
        if let bad = firstNonFiniteTensor {
            throw ConfigError("refusing to write \(path): tensor \(bad) holds non-finite values (the run diverged; resume from an earlier checkpoint with a lower learning rate)")
        }
        var entries: [SafeTensorsEntry] = []
        for (name, t) in tensors { entries.append(try SafeTensorsEntry(name: name, shape: t.shape, floats: t.values)) }
        try SafeTensorsFile(tensors: entries, metadata: metadata).write(to: path)
    }

    /// Read and validate a checkpoint file.
    public static func read(_ path: String) throws -> Checkpoint {
        try decode(SafeTensorsFile(path: path), path: path)
    }

    /// Validate a checkpoint held in memory (`path` names it in errors).
    public static func decode(data: Data, path: String = "<memory>") throws -> Checkpoint {
        try decode(SafeTensorsFile(data: data, path: path), path: path)
    }

    static func decode(_ file: SafeTensorsFile, path: String) throws -> Checkpoint {
        var c = Checkpoint()
        c.path = path
        c.metadata = file.metadata
        for name in file.names {
            guard let e = file.tensors[name] else { continue }
            guard e.dtype == .F32 else { throw FileFormatError(path: path, "tensor \(name) is \(e.dtype), expected F32") }
            c.tensors[name] = (e.shape, try e.floats())
        }
        return c
    }
}
