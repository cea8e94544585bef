import Foundation

// A sweep file: a config, settings fixed for every run (`set`), a grid of
// settings crossed with each other, random draws, and seeds to repeat every
// point with. Keys are dotted paths into the config's resolved spec (every
// default written out), so each is checked against the spec before anything
// runs, and every run's spec is a complete file of its own.

/// A distribution `random` draws a setting from.
public enum SweepDistribution: Equatable, Sendable {
    case uniform(Double, Double)
    case logUniform(Double, Double)
    case intUniform(Int, Int)
    case choice([JSONValue])

    static let names = ["uniform", "log_uniform", "int_uniform", "choice"]

    func draw(_ generator: inout RandomGenerator) -> JSONValue {
        let unit = Double(generator.next() >> 11) * 0x1p-53
        switch self {
        case let .uniform(low, high): return .number(low + (high - low) * unit)
        case let .logUniform(low, high): return .number(exp(log(low) + (log(high) - log(low)) * unit))
        case let .intUniform(low, high): return .number(Double(low + generator.nextIndex(below: high - low + 1)))
        case let .choice(values): return values[generator.nextIndex(below: values.count)]
        }
    }
}

/// One planned run: the point it tries, its seed, its name and its spec.
public struct SweepRun: Equatable, Sendable {
    /// The settings it tries: `grid` and `random` keys with their values, in the sweep file's order.
    public let point: [(key: String, value: JSONValue)]
    /// Its seed.
    public let seed: UInt64
    /// `key=value,...,seed=N`: stable, readable, and a folder name.
    public let name: String
    /// The resolved spec it trains.
    public let spec: ModelSpec

    public static func == (lhs: SweepRun, rhs: SweepRun) -> Bool {
        lhs.name == rhs.name && lhs.spec == rhs.spec
    }

    /// The point as one JSON object.
    public var pointJSON: JSONValue { .object(point) }

    /// A point's name: its settings (values as JSON, strings bare) joined by commas;
    /// characters a folder name cannot hold become `_`.
    public static func name(point: [(key: String, value: JSONValue)], seed: UInt64?) -> String {
        let parts = point.map { "\($0.key)=\($0.value.bareText)" } + (seed.map { ["seed=\($0)"] } ?? [])
        let name = parts.joined(separator: ",")
        return String(name.map { $0 == "/" || $0 == "\0" || $0 == " " ? "_" : $0 })
    }
}

/// A sweep file, parsed and checked against its config.
public struct Sweep: Sendable {
    /// The sweep file.
    public let path: String
    /// The config, as found (see `ModelSpec.load`).
    public let configPath: String
    /// The dataset folder runs train on, if the sweep names one.
    public let data: String?
    /// Keys every run sets.
    public let fixed: [(key: String, value: JSONValue)]
    /// Keys crossed with each other, with their values.
    public let grid: [(key: String, values: [JSONValue])]
    /// Random points drawn (each crossed with the grid).
    public let trials: Int
    /// The seed of the random draws.
    public let randomSeed: UInt64
    /// Keys drawn at random, with their distributions.
    public let random: [(key: String, distribution: SweepDistribution)]
    /// Seeds every point runs with.
    public let seeds: [UInt64]
    /// The config's resolved spec, every default written out: what the keys are paths into.
    public let baseSpec: JSONValue

    static let keys = ["config", "data", "set", "grid", "random", "seeds"]

    /// Reads and checks `path`. The config is looked up next to the sweep file first,
    /// then as `mnist-train --config` looks (`configSearch`); `data`, when relative, is next to the sweep file.
    public init(path: String, configSearch: [String] = ["configs"]) throws(ConfigError) {
        self.path = path
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(file: path, path: "", message: FileManager.default.fileExists(atPath: path) ? "cannot read the sweep file" : "no such file",
                              isMissingFile: !FileManager.default.fileExists(atPath: path))
        }
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw ConfigError(file: path, path: "", message: error.description) }
        guard case let .object(topLevel) = json else { throw ConfigError(file: path, path: "", message: "expected a JSON object, got \(json.kindDescription)") }
        for (key, _) in topLevel where !Sweep.keys.contains(key) {
            let suggestion = nearest(key, in: Sweep.keys).map { "did you mean \"\($0)\"? " } ?? ""
            throw ConfigError(file: path, path: key, message: "unknown key; \(suggestion)expected \(Sweep.keys.joined(separator: ", "))")
        }
        let folder = (path as NSString).deletingLastPathComponent
        func besideSweep(_ name: String) -> String { name.hasPrefix("/") || folder.isEmpty ? name : (folder as NSString).appendingPathComponent(name) }

        guard case let .string(config)? = json["config"] else { throw ConfigError(file: path, path: "config", message: "missing; give the model spec to sweep") }
        let localConfig = besideSweep(config)
        configPath = FileManager.default.fileExists(atPath: localConfig) ? localConfig : config
        // Its own errors name the config file.
        let spec = try ModelSpec.load(path: configPath, searchDirectories: configSearch)
        baseSpec = spec.json
        let configName = (configPath as NSString).lastPathComponent
        switch json["data"] {
        case nil, .null?: data = nil
        case let .string(data)?: self.data = besideSweep(data)
        case let value?: throw ConfigError(file: path, path: "data", message: "expected a dataset folder or name, got \(value.kindDescription)")
        }

        func members(_ key: String) throws(ConfigError) -> [(key: String, value: JSONValue)] {
            switch json[key] {
            case nil: return []
            case let .object(members)?: return members
            case let value?: throw ConfigError(file: path, path: key, message: "expected an object of spec keys, got \(value.kindDescription)")
            }
        }
        let base = baseSpec
        func checkKey(_ section: String, _ key: String) throws(ConfigError) -> String {
            let where_ = "\(section).\"\(key)\""
            guard let resolved = SpecPath.resolve(key, in: base) else {
                let suggestion = nearest(key, in: SpecPath.all(in: base)).map { "; did you mean \($0)?" } ?? ""
                throw ConfigError(file: path, path: where_, message: "no such key in \(configName)\(suggestion)")
            }
            if resolved == "seed", section != "set" {
                throw ConfigError(file: path, path: where_, message: "give seeds in \"seeds\", which repeats every point with each")
            }
            return resolved
        }

        fixed = try members("set").map { (key, value) throws(ConfigError) in (try checkKey("set", key), value) }
        grid = try members("grid").map { (key, value) throws(ConfigError) in
            guard case let .array(values) = value, !values.isEmpty else {
                throw ConfigError(file: path, path: "grid.\"\(key)\"", message: "expected a non-empty array of values, got \(value.kindDescription)")
            }
            return (try checkKey("grid", key), values)
        }
        func wholeNumber(_ value: JSONValue, at where_: String, upTo limit: Double = 9.007_199_254_740_992e15,
                         expected: String = "a non-negative whole number") throws(ConfigError) -> Double {
            guard case let .number(n) = value, n >= 0, n == n.rounded(), n <= limit else {
                throw ConfigError(file: path, path: where_, message: "expected \(expected), got \(value.kindDescription)")
            }
            return n
        }
        var trials = 0, randomSeed: UInt64 = 0
        var random = [(key: String, distribution: SweepDistribution)]()
        for (key, value) in try members("random") {
            let where_ = "random.\"\(key)\""
            switch key {
            case "trials": trials = Int(try wholeNumber(value, at: where_, upTo: 100_000, expected: "a whole number from 0 to 100000"))
            case "seed": randomSeed = UInt64(try wholeNumber(value, at: where_))
            default:
                random.append((try checkKey("random", key), try Sweep.distribution(value, file: path, at: where_)))
            }
        }
        if trials > 0, random.isEmpty {
            throw ConfigError(file: path, path: "random.trials", message: "\(trials) trials, but no key to draw; add \"key\": {\"uniform\": [a, b]} beside it")
        }
        (self.trials, self.randomSeed, self.random) = (trials, randomSeed, random)

        switch json["seeds"] {
        case nil: seeds = [spec.seed]
        case let .array(values)? where !values.isEmpty:
            seeds = try values.enumerated().map { index, value throws(ConfigError) in UInt64(try wholeNumber(value, at: "seeds[\(index)]")) }
        case let value?: throw ConfigError(file: path, path: "seeds", message: "expected a non-empty array of seeds, got \(value.kindDescription)")
        }
    }

    static func distribution(_ value: JSONValue, file: String, at path: String) throws(ConfigError) -> SweepDistribution {
        let expected = "expected one of {\"uniform\": [a, b]}, {\"log_uniform\": [a, b]}, {\"int_uniform\": [a, b]}, {\"choice\": [values]}"
        guard case let .object(members) = value, members.count == 1, let (kind, arguments) = members.first.map({ ($0.key, $0.value) }) else {
            throw ConfigError(file: file, path: path, message: "\(expected), got \(value.kindDescription)")
        }
        guard case let .array(items) = arguments, !items.isEmpty else {
            throw ConfigError(file: file, path: "\(path).\(kind)", message: "expected an array, got \(arguments.kindDescription)")
        }
        if kind == "choice" { return .choice(items) }
        guard items.count == 2, case let .number(low) = items[0], case let .number(high) = items[1], low.isFinite, high.isFinite, low < high else {
            throw ConfigError(file: file, path: "\(path).\(kind)", message: "expected [low, high] with low < high, got \(arguments.serialized)")
        }
        switch kind {
        case "uniform": return .uniform(low, high)
        case "log_uniform":
            guard low > 0 else { throw ConfigError(file: file, path: "\(path).log_uniform", message: "needs a positive low end, got \(arguments.serialized)") }
            return .logUniform(low, high)
        case "int_uniform":
            guard low == low.rounded(), high == high.rounded(), abs(low) < 1e15, abs(high) < 1e15 else {
                throw ConfigError(file: file, path: "\(path).int_uniform", message: "expected whole numbers, got \(arguments.serialized)")
            }
            return .intUniform(Int(low), Int(high))
        default:
            let suggestion = nearest(kind, in: SweepDistribution.names).map { "did you mean \"\($0)\"? " } ?? ""
            throw ConfigError(file: file, path: path, message: "unknown distribution \"\(kind)\"; \(suggestion)\(expected)")
        }
    }

    /// The points: the grid's cross product (first key slowest), each crossed
    /// with `trials` random draws (drawn once, from `randomSeed`); repeated points
    /// are planned once.
    public var points: [[(key: String, value: JSONValue)]] {
        var gridPoints: [[(key: String, value: JSONValue)]] = [[]]
        for (key, values) in grid { gridPoints = gridPoints.flatMap { point in values.map { point + [(key, $0)] } } }
        guard trials > 0 else { return gridPoints }
        var generator = RandomGenerator(seed: randomSeed, stream: Sweep.randomStream)
        let draws = (0 ..< trials).map { _ in random.map { (key: $0.key, value: $0.distribution.draw(&generator)) } }
        var seen = Set<String>()
        return gridPoints.flatMap { point in draws.map { point + $0 } }.filter { seen.insert(SweepRun.name(point: $0, seed: nil)).inserted }
    }

    static let randomStream: UInt64 = 0x5357_4545_50  // "SWEEP"

    /// Every run: each point with each seed, its spec resolved and checked.
    public func plan() throws(ConfigError) -> [SweepRun] {
        var runs = [SweepRun]()
        for point in points {
            for seed in seeds {
                var json = baseSpec
                for (key, value) in fixed + point { SpecPath.set(key, to: value, in: &json) }
                SpecPath.set("seed", to: .number(Double(seed)), in: &json)
                let spec: ModelSpec
                do { spec = try ModelSpec(json: json) } catch {
                    let settings = point.map { "\($0.key)=\($0.value.serialized)" }.joined(separator: ", ")
                    throw ConfigError(file: path, path: error.path, message: "\(error.message) (with \(settings.isEmpty ? "the set keys" : settings))")
                }
                runs.append(SweepRun(point: point, seed: seed, name: SweepRun.name(point: point, seed: seed), spec: spec))
            }
        }
        return runs
    }
}

/// Dotted paths into a spec's JSON: `optimizer.learning_rate`, `layers[1].units`.
/// A key of the optimizer may leave out `optimizer.` (`learning_rate.decay_steps`).
enum SpecPath {
    enum Step: Equatable { case key(String), index(Int) }

    static func parse(_ path: String) -> [Step]? {
        var steps = [Step]()
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var rest = Substring(part)
            let nameEnd = rest.firstIndex(of: "[") ?? rest.endIndex
            let name = rest[..<nameEnd]
            guard !name.isEmpty else { return nil }
            steps.append(.key(String(name)))
            rest = rest[nameEnd...]
            while rest.first == "[" {
                guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex) ..< close]), index >= 0 else { return nil }
                steps.append(.index(index))
                rest = rest[rest.index(after: close)...]
            }
            guard rest.isEmpty else { return nil }
        }
        return steps
    }

    static func value(at steps: [Step], in json: JSONValue) -> JSONValue? {
        var current = json
        for step in steps {
            switch (step, current) {
            case let (.key(key), .object): guard let next = current[key] else { return nil }; current = next
            case let (.index(index), .array(items)): guard index < items.count else { return nil }; current = items[index]
            default: return nil
            }
        }
        return current
    }

    /// The path as it stands in `json` (with `optimizer.` added when needed), or nil when it names nothing.
    static func resolve(_ path: String, in json: JSONValue) -> String? {
        guard let steps = parse(path) else { return nil }
        if value(at: steps, in: json) != nil { return path }
        if value(at: [.key("optimizer")] + steps, in: json) != nil { return "optimizer." + path }
        return nil
    }

    /// Sets the value at an existing path.
    static func set(_ path: String, to newValue: JSONValue, in json: inout JSONValue) {
        guard let steps = parse(path) else { return }
        func replace(_ value: JSONValue, _ steps: ArraySlice<Step>) -> JSONValue {
            guard let step = steps.first else { return newValue }
            switch (step, value) {
            case let (.key(key), .object(members)):
                return .object(members.map { $0.key == key ? ($0.key, replace($0.value, steps.dropFirst())) : $0 })
            case let (.index(index), .array(items)):
                var items = items
                if index < items.count { items[index] = replace(items[index], steps.dropFirst()) }
                return .array(items)
            default: return value
            }
        }
        json = replace(json, steps[...])
    }

    /// Every path in `json`, for suggestions.
    static func all(in json: JSONValue, prefix: String = "") -> [String] {
        switch json {
        case let .object(members):
            return members.flatMap { member -> [String] in
                let path = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
                return [path] + all(in: member.value, prefix: path)
            }
        case let .array(items):
            return items.indices.flatMap { index -> [String] in
                let path = "\(prefix)[\(index)]"
                return [path] + all(in: items[index], prefix: path)
            }
        default: return []
        }
    }
}
