// Reading a spec's JSON objects: each value checked as it is taken, errors
// naming their JSON path, unknown keys refused with the nearest known one.

/// Reads one JSON object of a spec, refusing keys it does not know, and checks
/// each value as it is taken. Paths in errors are JSON paths from the root.
struct SpecObject {
    let members: [(key: String, value: JSONValue)]
    let path: String

    init(_ value: JSONValue, path: String, allowedKeys: [String]) throws(ConfigError) {
        guard case let .object(members) = value else {
            throw ConfigError(path: path, message: "expected an object, got \(value.kindDescription)")
        }
        for member in members where !allowedKeys.contains(member.key) {
            let suggestion = nearest(member.key, in: allowedKeys).map { "did you mean \"\($0)\"? " } ?? ""
            throw ConfigError(path: SpecObject.join(path, member.key),
                              message: "unknown key; \(suggestion)expected one of \(allowedKeys.joined(separator: ", "))")
        }
        self.members = members
        self.path = path
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func keyPath(_ key: String) -> String { SpecObject.join(path, key) }

    func value(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }

    func has(_ key: String) -> Bool { value(key) != nil }

    func missing(_ key: String, _ expected: String) -> ConfigError {
        ConfigError(path: keyPath(key), message: "missing; expected \(expected)")
    }

    func integer(_ key: String, default fallback: Int?, expected: String = "a positive integer",
                 valid: (Int) -> Bool = { $0 > 0 }) throws(ConfigError) -> Int {
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw missing(key, expected)
        }
        guard case let .number(number) = value, number == number.rounded(), abs(number) < 1e15, valid(Int(number)) else {
            throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
        }
        return Int(number)
    }

    func number(_ key: String, default fallback: Double?, expected: String, valid: (Double) -> Bool) throws(ConfigError) -> Double {
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw missing(key, expected)
        }
        guard case let .number(number) = value, valid(number) else {
            throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
        }
        return number
    }

    /// A number that may be absent or null (Keras' `None`).
    func optionalNumber(_ key: String, expected: String, valid: (Double) -> Bool) throws(ConfigError) -> Double? {
        guard let value = value(key), value != .null else { return nil }
        return try number(key, default: nil, expected: expected, valid: valid)
    }

    func bool(_ key: String, default fallback: Bool) throws(ConfigError) -> Bool {
        guard let value = value(key) else { return fallback }
        guard case let .bool(flag) = value else {
            throw ConfigError(path: keyPath(key), message: "expected true or false, got \(value.kindDescription)")
        }
        return flag
    }

    func string(_ key: String, default fallback: String?, expected: String = "a non-empty string") throws(ConfigError) -> String {
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw missing(key, expected)
        }
        guard case let .string(text) = value, !text.isEmpty else {
            throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
        }
        return text
    }

    /// A string that must name one case of `E`; the error lists every choice.
    func choice<E: CaseIterable & RawRepresentable>(_ key: String, default fallback: E?, noun: String) throws(ConfigError) -> E
        where E.RawValue == String {
        let names = E.allCases.map(\.rawValue).joined(separator: ", ")
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw missing(key, "one of \(names)")
        }
        guard case let .string(text) = value else {
            throw ConfigError(path: keyPath(key), message: "expected one of \(names), got \(value.kindDescription)")
        }
        guard let choice = E(rawValue: text) else {
            throw ConfigError(path: keyPath(key), message: "unknown \(noun) \"\(text)\"; expected one of \(names)")
        }
        return choice
    }
}

extension SpecObject {
    /// Keras' int-or-pair arguments (`kernel_size`, `strides`, `pool_size`): 3 means [3, 3].
    func pair(_ key: String, default fallback: [Int]?, maximum: Int = 1024) throws(ConfigError) -> [Int] {
        let expected = "a positive integer or a pair of them, at most \(maximum)"
        guard let value = value(key) else {
            if let fallback { return fallback }
            throw missing(key, expected)
        }
        var pair: [Int]?
        switch value {
        case .number: pair = [value, value].integers()
        case let .array(items) where items.count == 2: pair = items.integers()
        default: pair = nil
        }
        guard let pair, pair.allSatisfy({ $0 >= 1 && $0 <= maximum }) else {
            throw ConfigError(path: keyPath(key), message: "expected \(expected), got \(value.kindDescription)")
        }
        return pair
    }
}

extension Array where Element == Int {
    var json: JSONValue { .array(map { .number(Double($0)) }) }
}

/// The candidate closest to `word` in edit distance, if it is a plausible
/// misspelling: at most a third of the word's letters (and 1 at least) differ.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let limit = max(1, word.count / 3)
    let scored = candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
    return scored.min { $0.1 < $1.1 }?.0
}

/// Levenshtein distance: insertions, deletions and substitutions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0 ... b.count), current = previous
    for i in 1 ... max(a.count, 1) where !a.isEmpty {
        current[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return a.isEmpty ? b.count : previous[b.count]
}
