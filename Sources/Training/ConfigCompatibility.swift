import Foundation

/// Whether a checkpoint's resolved config may be continued under the current one: settings that
/// change what the run computes must match; schedule and logging settings may change.
public enum ConfigCompatibility {
    /// Throw naming every setting (as a dotted key path) whose value differs between the JSON
    /// objects `saved` and `current`, except those in `mutable` (or below one of them). A
    /// setting added since the checkpoint was written (absent from `saved`) matches when the
    /// current value is its value in `defaults`: the older run computed what is now the default.
    public static func check(saved: String, current: String, mutable: Set<String>, source: String,
                             defaults: String? = nil) throws {
        guard let a = try? JSONSerialization.jsonObject(with: Data(saved.utf8)),
              let b = try? JSONSerialization.jsonObject(with: Data(current.utf8)) else {
            throw ConfigError("\(source): its stored config cannot be read")
        }
        let d = defaults.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        var changed: [String] = []
        diff(a, b, defaults: d, path: "", mutable: mutable, into: &changed)
        guard changed.isEmpty else {
            throw ConfigError("\(source) was written by a run with other settings: \(changed.sorted().joined(separator: "; ")). "
                              + "Resume with the run's own settings, allow a change explicitly (--allow-changed KEY,...), "
                              + "or start a new run in another --out")
        }
    }

    static func diff(_ a: Any, _ b: Any, defaults: Any?, path: String, mutable: Set<String>, into changed: inout [String]) {
        if mutable.contains(path) { return }
        if let da = a as? [String: Any], let db = b as? [String: Any] {
            let dd = defaults as? [String: Any]
            for key in Set(da.keys).union(db.keys) {
                let p = path.isEmpty ? key : "\(path).\(key)"
                if da[key] == nil, let vb = db[key], let vd = dd?[key], canonical(vb) == canonical(vd) { continue }
                guard let va = da[key], let vb = db[key] else {
                    if !mutable.contains(p) { changed.append("\(p) only in one of them") }
                    continue
                }
                diff(va, vb, defaults: dd?[key], path: p, mutable: mutable, into: &changed)
            }
            return
        }
        if canonical(a) != canonical(b) { changed.append("\(path) was \(describe(a)), now \(describe(b))") }
    }

    static func canonical(_ v: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
    }

    static func describe(_ v: Any) -> String {
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
            let s = String(decoding: d, as: UTF8.self)
            return s.count > 80 ? String(s.prefix(77)) + "..." : s
        }
        return "\(v)"
    }
}
