import CHDF5
import CZip
import Foundation

// A Keras 3 `.keras` archive: a zip (entries stored) of `metadata.json`,
// `config.json` (a Functional model: every layer with Keras' class name, our
// arguments, which are Keras' own, and the tensors it is called on) and
// `model.weights.h5` (libhdf5: `layers/<group>/vars/<i>`). Keras finds a
// layer's weights by position, not by name: the groups are named after the
// class in snake case, numbered in the order Keras lists the model's layers,
// so `kerasLayerOrder` repeats Keras' graph walk (`map_graph`).

/// A `.keras` archive that cannot be written.
public struct KerasExportError: MNISTKitError, Equatable {
    /// The file being written.
    public let path: String
    /// What went wrong.
    public let message: String
    public var category: ErrorCategory { .cannotWrite }
    public var description: String { "\(path): \(message)" }
}

/// One layer of the Keras model: ours, or a `Reshape` that gives an (H, W)
/// image its channel axis before a layer that needs one (Keras' convolutions do).
struct KerasNode {
    var name: String
    var className: String
    var config: [(key: String, value: JSONValue)]
    /// The nodes it reads (0 is the input layer).
    var inputs: [Int]
    /// Its output shape per sample, as Keras sees it.
    var shape: [Int]
    /// Our layer's index, nil for the input and inserted reshapes.
    var layer: Int?
}

extension Model {
    /// Layers that read (H, W) as one channel here but need (H, W, 1) in Keras.
    static let kerasImageLayers: Set<String> = ["conv2d", "max_pooling2d", "average_pooling2d", "global_average_pooling2d",
                                                "global_max_pooling2d", "zero_padding2d", "depthwise_conv2d", "separable_conv2d"]

    /// The model as Keras' nodes: the input layer, then each of our layers, with reshapes where needed.
    func kerasNodes() -> [KerasNode] {
        var nodes = [KerasNode(name: "input", className: "InputLayer",
                               config: [("batch_shape", .array([.null] + spec.inputShape.map { .number(Double($0)) })),
                                        ("dtype", .string("float32")), ("name", .string("input"))],
                               inputs: [], shape: spec.inputShape, layer: nil)]
        var nodeOfTensor = [0]  // tensor t (0 the input, i + 1 layer i's output) is node nodeOfTensor[t]
        for (index, layerSpec) in spec.layers.enumerated() {
            let name = summary[index].name
            var inputs = inputTensors[index].map { nodeOfTensor[$0] }
            if Model.kerasImageLayers.contains(layerSpec.typeName), nodes[inputs[0]].shape.count == 2 {
                let shape = nodes[inputs[0]].shape + [1]
                nodes.append(KerasNode(name: "\(name)_channels", className: "Reshape",
                                       config: [("target_shape", .array(shape.map { .number(Double($0)) }))],
                                       inputs: inputs, shape: shape, layer: nil))
                inputs = [nodes.count - 1]
            }
            nodes.append(KerasNode(name: name, className: layerSpec.kerasClassName, config: layerSpec.layer.arguments,
                                   inputs: inputs, shape: summary[index].outputShape, layer: index))
            nodeOfTensor.append(nodes.count - 1)
        }
        return nodes
    }

    /// The order of `model.layers` in Keras for these nodes (the output is the
    /// last): Keras' `map_graph` sorts by depth from the output, deepest first,
    /// and breaks ties by first visit in a depth-first walk from the output
    /// through each node's inputs in order.
    public static func kerasLayerOrder(inputs: [[Int]]) -> [Int] {
        let output = inputs.count - 1
        var visitIndex = [Int: Int](), finished = Set<Int>(), postorder = [Int]()
        // Iterative depth-first walk: (node, next input to visit).
        var stack = [(output, 0)]
        visitIndex[output] = 0
        while let top = stack.popLast() {
            let (node, next) = top
            if next < inputs[node].count {
                stack.append((node, next + 1))
                let parent = inputs[node][next]
                if finished.contains(parent) { continue }
                if visitIndex[parent] == nil { visitIndex[parent] = visitIndex.count }
                stack.append((parent, 0))
            } else if finished.insert(node).inserted {
                postorder.append(node)
            }
        }
        var depth = [Int: Int]()
        for node in postorder.reversed() {
            let own = depth[node, default: 0]
            depth[node] = own
            for parent in inputs[node] { depth[parent] = max(own + 1, depth[parent] ?? 0) }
        }
        return depth.keys.sorted { (depth[$0]!, visitIndex[$1]!) > (depth[$1]!, visitIndex[$0]!) }
    }

    /// Each Keras layer in Keras' order with its group in the weights file: the class in
    /// snake case, then `_1`, `_2`, ... for repeats, as Keras names the items of a list.
    func kerasWeightGroups(_ nodes: [KerasNode]) -> [(node: KerasNode, group: String)] {
        var used = [String: Int]()
        return Model.kerasLayerOrder(inputs: nodes.map(\.inputs)).map { index in
            let base = Model.kerasSnakeCase(nodes[index].className)
            let group = used[base].map { "\(base)_\($0 + 1)" } ?? base
            used[base] = (used[base] ?? -1) + 1
            return (nodes[index], group)
        }
    }

    /// The variables of a Keras node: its layer's, in Keras' order (`get_weights`).
    func kerasVariables(of node: KerasNode) -> [ModelVariable] {
        node.layer == nil ? [] : variables.filter { $0.name.hasPrefix(node.name + ".") }
    }

    /// Keras' config document for this model (what `model.to_json()` gives),
    /// with the loss, optimizer and metrics as `compile_config`.
    public func kerasConfig() -> JSONValue { kerasConfig(nodes: kerasNodes()) }

    func kerasConfig(nodes: [KerasNode]) -> JSONValue {
        func tensor(_ node: Int) -> JSONValue {
            .object([("class_name", .string("__keras_tensor__")), ("config", .object([
                ("shape", .array([.null] + nodes[node].shape.map { .number(Double($0)) })), ("dtype", .string("float32")),
                ("keras_history", .array([.string(nodes[node].name), .number(0), .number(0)])),
            ]))])
        }
        let layers: [JSONValue] = nodes.map { node in
            let common: [(key: String, value: JSONValue)] = node.className == "InputLayer" ? []
                : [("name", .string(node.name)), ("trainable", .bool(true)), ("dtype", .string("float32"))]
            let arguments: [JSONValue] = node.inputs.count == 1 ? [tensor(node.inputs[0])] : [.array(node.inputs.map(tensor))]
            return .object([
                ("module", .string("keras.layers")), ("class_name", .string(node.className)),
                ("config", .object(common + node.config)), ("registered_name", .null), ("name", .string(node.name)),
                ("inbound_nodes", node.inputs.isEmpty ? .array([]) : .array([.object([("args", .array(arguments)), ("kwargs", .object([]))])])),
            ])
        }
        let model: [(key: String, value: JSONValue)] = [
            ("name", .string(spec.name)), ("trainable", .bool(true)), ("layers", .array(layers)),
            ("input_layers", .array([.string("input"), .number(0), .number(0)])),
            ("output_layers", .array([.string(nodes.last!.name), .number(0), .number(0)])),
        ]
        return .object([
            ("module", .string("keras.src.models.functional")), ("class_name", .string("Functional")),
            ("config", .object(model)), ("registered_name", .string("Functional")),
            ("compile_config", .object([
                ("optimizer", kerasOptimizer()), ("loss", kerasLoss()),
                ("loss_weights", .null), ("metrics", .array(spec.metrics.map { .string($0) })), ("weighted_metrics", .null),
                ("run_eagerly", .bool(false)), ("steps_per_execution", .number(1)), ("jit_compile", .bool(false)),
            ])),
        ])
    }

    /// `{"module", "class_name", "config", "registered_name"}`, as Keras serialises its objects.
    private static func kerasObject(_ module: String, _ className: String, _ config: [(key: String, value: JSONValue)]) -> JSONValue {
        .object([("module", .string(module)), ("class_name", .string(className)), ("config", .object(config)), ("registered_name", .null)])
    }

    private func kerasLoss() -> JSONValue {
        guard spec.labelSmoothing > 0 else { return .string(spec.loss.rawValue) }
        return Model.kerasObject("keras.losses", "CategoricalCrossentropy", [
            ("name", .string(spec.loss.rawValue)), ("reduction", .string("sum_over_batch_size")), ("from_logits", .bool(false)),
            ("label_smoothing", .number(spec.labelSmoothing)), ("axis", .number(-1)),
        ])
    }

    private static let kerasOptimizerClasses: [OptimizerSpec.Kind: String] = [
        .sgd: "SGD", .rmsprop: "RMSprop", .adagrad: "Adagrad", .adam: "Adam", .adamw: "AdamW", .nadam: "Nadam",
    ]

    /// The optimizer with its arguments; a schedule Keras has as its config, the
    /// one-cycle schedule (PyTorch's; Keras has none) as the rate it starts at.
    private func kerasOptimizer() -> JSONValue {
        let optimizer = spec.optimizer
        var config: [(key: String, value: JSONValue)] = [("name", .string(optimizer.kind.rawValue))]
        for (key, value) in optimizer.json.members where key != "type" && value != .null {
            guard key == "learning_rate", case let .object(schedule) = value else {
                config.append((key, value))
                continue
            }
            let type = schedule.first { $0.key == "type" }?.value.stringValue ?? ""
            if type == "one_cycle" {
                config.append((key, .number(optimizer.learningRate.value(atStep: 0))))
            } else {
                let className = type.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
                config.append((key, Model.kerasObject("keras.optimizers.schedules", className, schedule.filter { $0.key != "type" })))
            }
        }
        return Model.kerasObject("keras.optimizers", Model.kerasOptimizerClasses[optimizer.kind]!, config)
    }

    /// Writes the model as a Keras 3 `.keras` archive: what `keras.saving.load_model` opens.
    public func writeKerasArchive(to path: String, kerasVersion: String = "3.15.1", date: Date = Date()) throws(KerasExportError) {
        let nodes = kerasNodes()
        let weights = try kerasWeightsFile(nodes: nodes, path: path)
        let formatter = ISO8601DateFormatter()
        let metadata = JSONValue.object([("keras_version", .string(kerasVersion)), ("date_saved", .string(formatter.string(from: date)))])
        let entries: [(String, [UInt8])] = [
            ("metadata.json", Array(metadata.serialized.utf8)),
            ("config.json", Array(kerasConfig(nodes: nodes).serialized.utf8)),
            ("model.weights.h5", weights),
        ]
        try writeZip(entries, to: path)
    }

    /// `model.weights.h5` in memory: one group per Keras layer, in Keras' order,
    /// named after its class (`conv2d`, `conv2d_1`, ...), its variables as `vars/0`, `vars/1`, ...
    func kerasWeightsFile(nodes: [KerasNode], path: String) throws(KerasExportError) -> [UInt8] {
        func fail(_ what: String) -> KerasExportError { KerasExportError(path: path, message: "cannot write the Keras weights: \(what) failed in libhdf5") }
        chdf5_silence_errors()
        let access = H5Pcreate(chdf5_file_access())
        guard access >= 0 else { throw fail("H5Pcreate") }
        defer { H5Pclose(access) }
        // The core driver keeps the file in memory; nothing touches the disk.
        guard H5Pset_fapl_core(access, 1 << 20, false) >= 0 else { throw fail("H5Pset_fapl_core") }
        let file = H5Fcreate("model.weights.h5", chdf5_truncate(), chdf5_default(), access)
        guard file >= 0 else { throw fail("H5Fcreate") }
        var fileOpen = true
        defer { if fileOpen { H5Fclose(file) } }

        func group(_ parent: hid_t, _ name: String) throws(KerasExportError) -> hid_t {
            let id = H5Gcreate2(parent, name, chdf5_default(), chdf5_default(), chdf5_default())
            guard id >= 0 else { throw fail("creating group \(name)") }
            return id
        }
        // A variable-length UTF-8 string, as h5py writes a Python str.
        func nameAttribute(_ target: hid_t, _ value: String) throws(KerasExportError) {
            let type = H5Tcopy(chdf5_c_string())
            defer { H5Tclose(type) }
            H5Tset_size(type, chdf5_variable_size())
            H5Tset_cset(type, H5T_CSET_UTF8)
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let attribute = H5Acreate2(target, "name", type, space, chdf5_default(), chdf5_default())
            guard attribute >= 0 else { throw fail("creating attribute name") }
            defer { H5Aclose(attribute) }
            let status = value.withCString { text in
                withUnsafePointer(to: text) { H5Awrite(attribute, type, $0) }
            }
            guard status >= 0 else { throw fail("writing attribute name") }
        }
        func vars(_ parent: hid_t, name: String, tensors: [(shape: [Int], values: [Float])]) throws(KerasExportError) {
            let varsGroup = try group(parent, "vars")
            defer { H5Gclose(varsGroup) }
            try nameAttribute(varsGroup, name)
            for (i, tensor) in tensors.enumerated() {
                let dimensions = tensor.shape.map { hsize_t($0) }
                let space = H5Screate_simple(Int32(dimensions.count), dimensions, nil)
                guard space >= 0 else { throw fail("H5Screate_simple") }
                defer { H5Sclose(space) }
                let dataset = H5Dcreate2(varsGroup, "\(i)", chdf5_ieee_f32le(), space, chdf5_default(), chdf5_default(), chdf5_default())
                guard dataset >= 0 else { throw fail("creating dataset \(i)") }
                defer { H5Dclose(dataset) }
                let status = tensor.values.withUnsafeBytes {
                    H5Dwrite(dataset, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), $0.baseAddress)
                }
                guard status >= 0 else { throw fail("writing dataset \(i)") }
            }
        }

        let layersGroup = try group(file, "layers")
        for (node, groupName) in kerasWeightGroups(nodes) {
            let layerGroup = try group(layersGroup, groupName)
            let tensors = kerasVariables(of: node).map { (shape: $0.shape, values: buffer(of: $0).slice($0.offset, $0.count)) }
            try vars(layerGroup, name: node.name, tensors: tensors)
            H5Gclose(layerGroup)
        }
        H5Gclose(layersGroup)
        try vars(file, name: spec.name, tensors: [])
        guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw fail("H5Fflush") }
        let size = H5Fget_file_image(file, nil, 0)
        guard size > 0 else { throw fail("H5Fget_file_image") }
        var image = [UInt8](repeating: 0, count: size)
        guard image.withUnsafeMutableBytes({ H5Fget_file_image(file, $0.baseAddress, size) }) == size else { throw fail("H5Fget_file_image") }
        fileOpen = false
        guard H5Fclose(file) >= 0 else { throw fail("H5Fclose") }
        return image
    }

    /// Keras' `to_snake_case`: `Conv2D` as `conv2d`, `BatchNormalization` as
    /// `batch_normalization`, `CosineDecay` as `cosine_decay`. Its two rules: an
    /// underscore before a capital that starts a lowercase word, and between a
    /// lowercase letter and a capital (a digit before a capital joins: `2D`).
    public static func kerasSnakeCase(_ name: String) -> String {
        let characters = Array(name)
        var out = ""
        for (i, character) in characters.enumerated() {
            if i > 0, character.isUppercase {
                let startsWord = i + 1 < characters.count && characters[i + 1].isLowercase
                if startsWord || characters[i - 1].isLowercase { out.append("_") }
            }
            out += character.lowercased()
        }
        return out
    }

    /// A zip of stored (uncompressed) entries, as Keras writes them, through libzip;
    /// written beside `path` and renamed over it, so a reader never sees half a file.
    func writeZip(_ entries: [(String, [UInt8])], to path: String) throws(KerasExportError) {
        let temporary = "\(path).tmp-\(getpid())"
        var error: Int32 = 0
        guard let archive = zip_open(temporary, ZIP_CREATE | ZIP_TRUNCATE, &error) else {
            throw KerasExportError(path: path, message: "cannot create the archive: \(String(cString: strerror(errno)))")
        }
        func fail(_ what: String) -> KerasExportError {
            let message = String(cString: zip_strerror(archive))
            zip_discard(archive)
            unlink(temporary)
            return KerasExportError(path: path, message: "cannot write the archive: \(what): \(message)")
        }
        // libzip reads the buffers at zip_close; they live until then.
        var buffers = [UnsafeMutableRawBufferPointer]()
        defer { buffers.forEach { $0.deallocate() } }
        for (name, bytes) in entries {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffers.append(buffer)
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            guard let source = zip_source_buffer(archive, buffer.baseAddress, zip_uint64_t(bytes.count), 0) else { throw fail(name) }
            let index = zip_file_add(archive, name, source, zip_flags_t(ZIP_FL_ENC_UTF_8))
            guard index >= 0 else {
                zip_source_free(source)
                throw fail(name)
            }
            guard zip_set_file_compression(archive, zip_uint64_t(index), ZIP_CM_STORE, 0) == 0 else { throw fail(name) }
        }
        guard zip_close(archive) == 0 else { throw fail("closing") }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw KerasExportError(path: path, message: "cannot write the archive: \(reason)")
        }
    }
}
