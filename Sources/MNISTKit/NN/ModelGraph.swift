// The model as a graph: which tensors each layer reads, resolved from the
// spec's names, and which buffer holds each tensor in each mode. Tensor 0 is
// the model's input, tensor i + 1 layer i's output. A spec without `inputs`
// is a stack: layer i reads tensor i.

/// Layer names and inputs resolved from a spec, checked before anything is built.
struct ModelGraph {
    /// Each layer's name: the spec's, or `<type>_<n>` counted per type from 1.
    let names: [String]
    /// Each layer's inputs as tensor numbers.
    let inputs: [[Int]]
    /// True when some layer names its inputs: the summary then prints "Connected to".
    let isFunctional: Bool

    init(spec: ModelSpec) throws(ConfigError) {
        var counters = [String: Int]()
        var names = [String]()
        var index = [String: Int]()
        for (i, layer) in spec.layers.enumerated() {
            let number = (counters[layer.typeName] ?? 0) + 1
            counters[layer.typeName] = number
            let name = layer.name ?? "\(layer.typeName)_\(number)"
            if let earlier = index[name] {
                throw ConfigError(path: "layers[\(i)].name", message: "\"\(name)\" is already the name of layers[\(earlier)]; every layer needs its own name")
            }
            index[name] = i
            names.append(name)
        }
        self.names = names
        isFunctional = spec.layers.contains { $0.inputs != nil }
        var inputs = [[Int]]()
        for (i, layer) in spec.layers.enumerated() {
            guard let listed = layer.inputs else {
                inputs.append([i])
                continue
            }
            var tensors = [Int]()
            for (k, name) in listed.enumerated() {
                let path = "layers[\(i)].inputs[\(k)]"
                let tensor: Int
                if name == "input" {
                    tensor = 0
                } else if let j = index[name] {
                    guard j < i else {
                        throw ConfigError(path: path, message: ModelGraph.laterReference(name, from: i, to: j, names: names, spec: spec))
                    }
                    tensor = j + 1
                } else {
                    let suggestion = nearest(name, in: ["input"] + names[..<i]).map { "did you mean \"\($0)\"? " } ?? ""
                    throw ConfigError(path: path, message: "unknown input \"\(name)\"; \(suggestion)expected \"input\" or the name of an earlier layer")
                }
                if tensors.contains(tensor) {
                    throw ConfigError(path: path, message: "\"\(name)\" is listed twice; a layer reads each input once")
                }
                tensors.append(tensor)
            }
            inputs.append(tensors)
        }
        self.inputs = inputs
        // Every output but the last is read by some layer: a dead branch is a mistake in the spec.
        let read = Set(inputs.joined())
        for i in spec.layers.indices.dropLast() where !read.contains(i + 1) {
            throw ConfigError(path: "layers[\(i)]", message: "the output of \(names[i]) is never used; list it in a later layer's inputs (the model's output is the last layer)")
        }
    }

    /// The message for an input that names a later layer: a cycle when that layer
    /// depends on this one, otherwise a matter of order.
    private static func laterReference(_ name: String, from i: Int, to j: Int, names: [String], spec: ModelSpec) -> String {
        if i == j { return "\"\(name)\" is this layer itself: a cycle" }
        func inputs(of k: Int) -> [Int] {
            guard let listed = spec.layers[k].inputs else { return k == 0 ? [] : [k - 1] }
            return listed.compactMap { names.firstIndex(of: $0) }
        }
        // Depth-first from j back through its inputs; reaching i closes a cycle.
        var trails = [[j]], seen = Set<Int>()
        while let trail = trails.popLast() {
            guard seen.insert(trail.last!).inserted else { continue }
            for m in inputs(of: trail.last!) {
                if m == i {
                    let cycle = ([i] + trail.reversed() + [i]).map { names[$0] }.joined(separator: " -> ")
                    return "\"\(name)\" depends on this layer: a cycle (\(cycle))"
                }
                trails.append(trail + [m])
            }
        }
        return "\"\(name)\" comes later in layers; a layer reads only earlier layers, so list \(name) first"
    }
}

/// Where each tensor lives in one mode: a view's output (and augmentation's
/// outside training, and a layer computed by the one before it) has no buffer
/// of its own.
struct TensorPlan {
    /// For each tensor, the tensor whose buffer holds it.
    let storage: [Int]
    /// For each tensor that has its own buffer, the layers that read it, in order.
    let readers: [[Int]]
}

extension Model {
    /// The plan of one mode, with the layers that compute in it.
    func tensorPlan(training: Bool) -> TensorPlan {
        var storage = Array(0 ... layers.count)
        var readers = [[Int]](repeating: [], count: layers.count + 1)
        for i in layers.indices {
            if passesThrough(i, training: training) {
                storage[i + 1] = storage[inputTensors[i][0]]
            } else if !isComputedByPrevious(i) {
                for tensor in inputTensors[i] { readers[storage[tensor]].append(i) }
            }
        }
        return TensorPlan(storage: storage, readers: readers)
    }
}
