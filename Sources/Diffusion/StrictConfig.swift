import Foundation
import FileFormats
import Training

/// JSON configuration with defaults: a config file overrides any subset of the default values,
/// and a key that the program does not know is an error (a typo must not be silently ignored).
public enum StrictConfig {
    /// Overlay the JSON object in `data` on `defaults`. `source` names the file in errors.
    public static func overlay<T: Codable>(_ defaults: T, json data: Data, source: String) throws -> T {
        let base = try JSONSerialization.jsonObject(with: JSONEncoder().encode(defaults))
        let user: Any
        do { user = try JSONSerialization.jsonObject(with: data) } catch {
            let why = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ConfigError("\(source): not valid JSON (\(why))")
        }
        guard let userDict = user as? [String: Any], let baseDict = base as? [String: Any] else {
            throw ConfigError("\(source): the config must be a JSON object")
        }
        let merged = try merge(baseDict, userDict, path: "", source: source)
        do {
            return try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.dataCorrupted(ctx) {
            let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError("\(source): config key '\(key)' has the wrong type (\(ctx.debugDescription))")
        } catch {
            throw ConfigError("\(source): \(error)")
        }
    }

    /// Read a config file and overlay it on `defaults`.
    public static func load<T: Codable>(_ defaults: T, path: String) throws -> T {
        let data: Data
        do { data = try readRegularFile(path) } catch { throw ConfigError("config file: \(error)") }
        return try overlay(defaults, json: data, source: path)
    }

    static func merge(_ base: [String: Any], _ user: [String: Any], path: String, source: String) throws -> [String: Any] {
        var out = base
        for (k, v) in user {
            let full = path.isEmpty ? k : "\(path).\(k)"
            guard let b = base[k] else {
                let known = base.keys.sorted().joined(separator: ", ")
                throw ConfigError("\(source): unknown config key '\(full)' (known here: \(known))")
            }
            if let bd = b as? [String: Any], let ud = v as? [String: Any] {
                out[k] = try merge(bd, ud, path: full, source: source)
            } else {
                out[k] = v
            }
        }
        return out
    }

    /// Pretty JSON of a config, for checkpoints and logs.
    public static func json<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(value)) ?? Data(), as: UTF8.self)
    }
}
