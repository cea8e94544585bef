import Foundation

/// A checkpoint that could not be read, restored or written, naming the file.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    /// What went wrong, for callers that act on it (exit codes, retries).
    public enum Kind: Equatable, Sendable {
        /// The file does not exist.
        case missingFile
        /// The file exists but is not a checkpoint this spec can use.
        case invalid
        /// Writing the file failed (permissions, a full disk).
        case cannotWrite
    }

    /// The checkpoint file.
    public let path: String
    /// What is wrong with it, in words for the `error:` line.
    public let message: String
    /// Which kind of failure: missing, invalid or not writable.
    public let kind: Kind

    /// An error about the checkpoint at `path`.
    public init(path: String, message: String, kind: Kind = .invalid) {
        self.path = path
        self.message = message
        self.kind = kind
    }

    /// The file does not exist (exit 66 rather than 65).
    public var isMissingFile: Bool { kind == .missingFile }

    /// "<path>: <message>".
    public var description: String { "\(path): \(message)" }
}

/// A training snapshot in the safetensors layout: an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then
/// the raw little-endian float32 data. `safetensors.numpy.load_file` reads it.
///
/// Tensors: the variables in layer order under Keras' names (`conv2d_1.kernel`
/// (kh, kw, in, out), `dense_1.kernel` (inputs, outputs), `dense_1.bias`,
/// `batch_normalization_1.moving_mean`, ...), then the optimizer's slots of the
/// trainable ones (`optimizer.dense_1.kernel.rms`).
/// `__metadata__` carries the format and version, the resolved spec, the training
/// state, the dataset's name, class names and image shape, the tool version and
/// a CRC-32 of the data section;
/// no timestamps or paths, so the bytes depend only on the training.
public struct Checkpoint {
    /// The `format` metadata value that marks a checkpoint.
    public static let format = "mnist-train-checkpoint"
    /// The layout version this build writes and reads.
    public static let formatVersion = 1
    /// Early stopping's kept weights: `early_stopping.best.dense_1.kernel`, ...
    static let bestWeightsPrefix = "early_stopping.best."
    /// The largest model's parameters and three optimizer slots, plus a header:
    /// a larger file is refused before it is read into memory.
    static let maximumFileBytes = SafetensorsFile.maximumHeaderBytes + 4 * 4 * Model.maximumParameterCount

    /// The model spec the checkpoint was trained with, every default written out.
    public let spec: ModelSpec
    /// Where training stands: epochs, random streams, callbacks, history.
    public let state: TrainingState
    /// The optimizer's updates so far (Keras' `iterations`).
    public let step: Int
    /// The constant rate reduce_lr_on_plateau set, if it acted.
    public let learningRateOverride: Double?
    /// What the model learnt from: a known dataset recognised by its files, or
    /// the folder's name (`Dataset.name`); older checkpoints hold the spec's name.
    public let dataset: String
    /// The folder the training data was read from (its name, not its path).
    public var datasetFolder: String?
    /// SHA-256 of that data's test split (`Dataset.testSHA256`).
    public var datasetSHA256: String?
    /// The form the training data was read in (IDX, npz, CSV, image folders); nil in older checkpoints.
    public var datasetFormat: DataFormat?
    /// Where to look for the data again, in order: the dataset's name, then its folder's.
    public var datasetLookupNames: [String] { [dataset] + (datasetFolder.map { $0 == dataset ? [] : [$0] } ?? []) }
    /// The training data's class names and image shape (H, W, C); nil in
    /// checkpoints written before they were recorded.
    public let classNames: [String]?
    /// The dataset's image shape (height, width, channels), when recorded.
    public let imageShape: [Int]?
    /// The version of the tool that wrote the file.
    public let toolVersion: String
    /// The data's images are stored transposed (EMNIST): pictures for people transpose them back.
    public var imagesTransposed = false
    /// The OpenBLAS kernel that trained it: results differ between kernels.
    public var blasCore: String? = BLAS.coreName
    /// The weights file a run started from, if not from our initialisation.
    public var weightsSource: WeightsSource?
    /// Name, shape and values of every tensor, in file order.
    public let tensors: [(name: String, shape: [Int], values: [Float])]

    /// The tensor called `name` (`dense_1.kernel`, `optimizer.dense_1.kernel.m`), if the file holds it.
    public func tensor(_ name: String) -> (shape: [Int], values: [Float])? {
        tensors.first { $0.name == name }.map { ($0.shape, $0.values) }
    }

    /// A snapshot of a trainer's model, optimizer and state.
    public init(trainer: Trainer) {
        self.init(model: trainer.model, optimizer: trainer.optimizer, state: trainer.state, data: trainer.train)
        weightsSource = trainer.weightsSource
    }

    /// A snapshot of `model`, `optimizer` and `state`, trained on `data`, ready to `save(to:)`.
    public init(model: Model, optimizer: Optimizer, state: TrainingState, data: Dataset? = nil) {
        spec = model.spec
        self.state = state
        step = optimizer.step
        learningRateOverride = optimizer.learningRateOverride
        dataset = data.map { $0.name.isEmpty ? model.spec.dataset : $0.name } ?? model.spec.dataset
        datasetFolder = data.flatMap { $0.folder.isEmpty ? nil : $0.folder }
        datasetSHA256 = data?.testSHA256
        datasetFormat = data?.format
        imageShape = data?.imageShape
        classNames = data?.classNames
        imagesTransposed = data?.imagesTransposed ?? false
        toolVersion = MNISTKit.toolVersion
        var tensors = model.variables.map { ($0.name, $0.shape, model.buffer(of: $0).slice($0.offset, $0.count)) }
        for slot in model.trainableVariables {
            for (slotName, buffer) in optimizer.slots {
                tensors.append(("optimizer.\(slot.name).\(slotName)", slot.shape, buffer.slice(slot.offset, slot.count)))
            }
        }
        // Early stopping's best weights: the same variables, under a prefix.
        if let best = state.earlyStopping.bestWeights {
            for slot in model.variables {
                let start = model.allWeightsOffset(of: slot)
                tensors.append((Checkpoint.bestWeightsPrefix + slot.name, slot.shape, Array(best[start ..< start + slot.count])))
            }
        }
        self.tensors = tensors
    }

    // MARK: Writing

    /// What the model learnt from: `dataset`, and `class_names`, `image_shape` and
    /// `images_transposed` when known. Checkpoints and exports both carry it.
    public var datasetMetadata: [(key: String, value: String)] {
        var metadata = [("dataset", dataset)]
        if let datasetFolder { metadata.append(("dataset_folder", datasetFolder)) }
        if let datasetSHA256 { metadata.append(("dataset_sha256", datasetSHA256)) }
        if let datasetFormat { metadata.append(("dataset_format", datasetFormat.rawValue)) }
        if let classNames { metadata.append(("class_names", JSONValue.array(classNames.map { .string($0) }).serialized)) }
        if let imageShape { metadata.append(("image_shape", imageShape.json.serialized)) }
        if imagesTransposed { metadata.append(("images_transposed", "true")) }
        return metadata
    }

    /// The file's bytes: a safetensors file whose metadata ends with a CRC-32
    /// of its data section.
    public func encoded() -> [UInt8] {
        var metadata: [(key: String, value: String)] = [
            ("format", Checkpoint.format),
            ("format_version", String(Checkpoint.formatVersion)),
            ("spec", spec.json.serialized),
            ("state", state.json(step: step, learningRateOverride: learningRateOverride).serialized),
        ] + datasetMetadata
        if let blasCore { metadata.append(("openblas_core", blasCore)) }
        if let weightsSource { metadata += [("init_weights", weightsSource.file), ("init_weights_sha256", weightsSource.sha256)] }
        metadata.append(("tool_version", toolVersion))
        let file = SafetensorsFile(metadata: metadata, tensors: tensors.map { SafetensorsFile.Tensor(name: $0.name, shape: $0.shape, values: $0.values) })
        return file.encoded { data in
            [("crc32", String(data.withUnsafeBytes { crc32Checksum($0) }, radix: 16).leftPadded(to: 8))]
        }
    }

    /// Writes atomically: a temporary file in the same folder, fsync, rename over
    /// `path`, fsync the folder. A crash at any moment leaves the old file or the new one.
    public func save(to path: String) throws(CheckpointError) {
        try writeAtomically(encoded(), to: path)
    }

    // MARK: Reading

    /// Reads and checks a checkpoint file: format, version, spec, state and CRC-32; `restore` then checks the tensors against the model.
    public static func load(path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do { bytes = try SafetensorsFile.readBytes(path: path, maximumBytes: maximumFileBytes, noun: "any checkpoint") } catch {
            throw CheckpointError(path: path, message: error.message, kind: error.isMissingFile ? .missingFile : .invalid)
        }
        return try decode(bytes, path: path)
    }

    /// Parses and validates every part of a checkpoint: header length, JSON,
    /// offsets (in bounds, no overlap or gap, matching dtype × shape), CRC,
    /// format and version, spec and state. `restore` then checks the tensors
    /// against the spec's layers.
    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> Checkpoint {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path: path, message: message) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile.decode(bytes, path: path) } catch { throw fail(error.message) }
        var metadata = [String: String]()
        for (key, value) in file.metadata { metadata[key] = value }
        guard !file.metadata.isEmpty else { throw fail("not an mnist-train checkpoint: no __metadata__ in the header") }
        guard metadata["format"] == format else {
            throw fail("not an mnist-train checkpoint (format \(metadata["format"].map { "\"\($0)\"" } ?? "missing"))")
        }
        guard let versionText = metadata["format_version"], let version = Int(versionText), version >= 1 else {
            throw fail("damaged header: format_version \(metadata["format_version"] ?? "missing") is not a version number")
        }
        guard version <= formatVersion else {
            throw fail("format version \(version) is newer than this version of MNISTKit (\(MNISTKit.toolVersion)) reads (up to \(formatVersion))")
        }
        if let other = file.tensors.first(where: { $0.dtype != .f32 }) {
            throw fail("tensor \(other.name): dtype \"\(other.dtype.rawValue)\", expected \"F32\"")
        }
        guard let expected = metadata["crc32"].flatMap({ UInt32($0, radix: 16) }) else { throw fail("damaged header: crc32 is missing") }
        let crc = file.dataCRC32
        guard crc == expected else {
            throw fail("CRC-32 mismatch (stored \(String(expected, radix: 16).leftPadded(to: 8)), computed \(String(crc, radix: 16).leftPadded(to: 8))): the data is damaged; re-run training to regenerate the checkpoint")
        }

        let spec: ModelSpec
        do {
            guard let text = metadata["spec"] else { throw ConfigError(path: "", message: "missing") }
            spec = try ModelSpec.parse(text)
        } catch { throw fail("metadata spec: \(error)") }
        guard let stateText = metadata["state"], let stateJSON = try? JSONParser.parse(stateText), let state = TrainingState(json: stateJSON, seed: spec.seed),
              case let .number(step)? = stateJSON["step"], step == step.rounded(), step >= 0, step < 9e15 else {
            throw fail("metadata state is missing or damaged")
        }
        var learningRateOverride: Double?
        if let rate = stateJSON["learning_rate"] {
            guard case let .number(value) = rate, value > 0 else { throw fail("metadata state is missing or damaged") }
            learningRateOverride = value
        }
        guard let dataset = metadata["dataset"], let tool = metadata["tool_version"] else {
            throw fail("metadata lacks dataset or tool_version")
        }
        var classNames: [String]?, imageShape: [Int]?
        if let text = metadata["class_names"] {
            guard case let .array(items)? = try? JSONParser.parse(text), !items.isEmpty else { throw fail("damaged header: class_names is not a list of names") }
            classNames = try items.map { item throws(CheckpointError) in
                guard case let .string(name) = item else { throw fail("damaged header: class_names is not a list of names") }
                return name
            }
        }
        if let text = metadata["image_shape"] {
            guard case let .array(items)? = try? JSONParser.parse(text), let shape = items.integers(), shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
                throw fail("damaged header: image_shape is not (height, width, channels)")
            }
            imageShape = shape
        }
        let tensors = file.tensors.map { ($0.name, $0.shape, $0.values) }
        var checkpoint = Checkpoint(spec: spec, state: state, step: Int(step), learningRateOverride: learningRateOverride, dataset: dataset, toolVersion: tool,
                                    tensors: tensors, classNames: classNames, imageShape: imageShape)
        checkpoint.imagesTransposed = metadata["images_transposed"] == "true"
        checkpoint.blasCore = metadata["openblas_core"]
        (checkpoint.datasetFolder, checkpoint.datasetSHA256) = (metadata["dataset_folder"], metadata["dataset_sha256"])
        checkpoint.datasetFormat = metadata["dataset_format"].flatMap(DataFormat.init(rawValue:))
        if let file = metadata["init_weights"], let digest = metadata["init_weights_sha256"] {
            checkpoint.weightsSource = WeightsSource(file: file, sha256: digest)
        }
        return checkpoint
    }

    /// A checkpoint from its parts, as `load` assembles it (tests build damaged ones this way).
    public init(spec: ModelSpec, state: TrainingState, step: Int = 0, learningRateOverride: Double? = nil, dataset: String, toolVersion: String,
                tensors: [(name: String, shape: [Int], values: [Float])], classNames: [String]? = nil, imageShape: [Int]? = nil) {
        self.classNames = classNames
        self.imageShape = imageShape
        self.spec = spec
        self.state = state
        self.step = step
        self.learningRateOverride = learningRateOverride
        self.dataset = dataset
        self.toolVersion = toolVersion
        self.tensors = tensors
    }

    /// Rebuilds the model and optimizer from the checkpoint's own spec (or `spec`,
    /// the same architecture with other training settings, for a resume), checking
    /// that it holds exactly the tensors that spec needs, with their shapes. The
    /// state comes back with early stopping's best weights filled in.
    public func restore(path: String, classCount: Int = 10, spec: ModelSpec? = nil) throws(CheckpointError) -> (model: Model, optimizer: Optimizer, state: TrainingState) {
        func fail(_ message: String) -> CheckpointError { CheckpointError(path: path, message: message) }
        let spec = spec ?? self.spec
        let model: Model
        do { model = try Model(spec: spec, classCount: classCount) } catch { throw fail("metadata spec: \(error.description)") }
        let optimizer = Optimizer(spec: spec.optimizer, parameterCount: model.parameterCount)
        optimizer.step = step
        optimizer.learningRateOverride = learningRateOverride
        var restoredState = state
        var expected = Set<String>()
        for slot in model.variables {
            let optimizerSlots = slot.trainable ? optimizer.slots.map { ("optimizer.\(slot.name).\($0.name)", $0.buffer) } : []
            let targets = [(slot.name, model.buffer(of: slot))] + optimizerSlots
            for (name, buffer) in targets {
                expected.insert(name)
                guard let tensor = tensor(name) else { throw fail("missing tensor \(name), which the spec's layers need") }
                guard tensor.shape == slot.shape else {
                    throw fail("tensor \(name) has shape \(formatShape(tensor.shape)), but the spec's layer needs \(formatShape(slot.shape))")
                }
                buffer.assign(tensor.values, at: slot.offset)
            }
        }
        if state.earlyStopping.bestWeights != nil {
            var best = [Float](repeating: 0, count: model.parameterCount + model.nonTrainableCount)
            for slot in model.variables {
                let name = Checkpoint.bestWeightsPrefix + slot.name
                expected.insert(name)
                guard let tensor = tensor(name), tensor.shape == slot.shape else {
                    throw fail("missing or misshapen tensor \(name), which the state's early stopping needs")
                }
                let start = model.allWeightsOffset(of: slot)
                best.replaceSubrange(start ..< start + slot.count, with: tensor.values)
            }
            restoredState.earlyStopping.bestWeights = best
        }
        if let extra = tensors.first(where: { !expected.contains($0.name) }) {
            throw fail("unexpected tensor \(extra.name), which the spec's layers do not have")
        }
        return (model, optimizer, restoredState)
    }
}

extension Array where Element == JSONValue {
    /// The values as integers, or nil if any is not a whole number.
    func integers() -> [Int]? {
        var result = [Int]()
        for item in self {
            guard case let .number(value) = item, value == value.rounded(), abs(value) < 9e15 else { return nil }
            result.append(Int(value))
        }
        return result
    }
}

extension TrainingState {
    /// With the optimizer's step and rate override, which the state object also
    /// records. Generator states are hex strings: JSON numbers cannot hold 64
    /// bits exactly. Callback state appears only once a callback has some.
    func json(step: Int, learningRateOverride learningRate: Double?) -> JSONValue {
        func words(_ generator: RandomGenerator) -> JSONValue {
            .array(generator.stateWords.map { .string(String($0, radix: 16).leftPadded(to: 16)) })
        }
        func optional(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
        var members: [(key: String, value: JSONValue)] = [
            ("epochs_completed", .number(Double(epochsCompleted))),
            ("step", .number(Double(step))),
            ("shuffle_rng", words(shuffleGenerator)),
            ("dropout_rng", words(dropoutGenerator)),
            ("augmentation_rng", words(augmentationGenerator)),
        ]
        if let learningRate { members.append(("learning_rate", .number(learningRate))) }
        if earlyStopping != EarlyStopping.State() {
            members.append(("early_stopping", .object([
                ("wait", .number(Double(earlyStopping.wait))), ("best", optional(earlyStopping.best)),
                ("best_epoch", .number(Double(earlyStopping.bestEpoch))), ("stopped_epoch", .number(Double(earlyStopping.stoppedEpoch))),
                ("best_weights", .bool(earlyStopping.bestWeights != nil)),
            ])))
        }
        if !history.isEmpty {
            // [epoch, loss, accuracy, val_loss, val_accuracy, learning_rate] per epoch.
            members.append(("history", .array(history.map {
                .array([.number(Double($0.epoch)), .number($0.loss), .number($0.accuracy), optional($0.validationLoss),
                        optional($0.validationAccuracy), .number($0.learningRate)])
            })))
        }
        if plateau != ReduceLROnPlateau.State() {
            members.append(("reduce_lr_on_plateau", .object([
                ("wait", .number(Double(plateau.wait))), ("cooldown_counter", .number(Double(plateau.cooldownCounter))),
                ("best", optional(plateau.best)),
            ])))
        }
        return .object(members)
    }

    /// `seed` gives checkpoints written before augmentation their stream.
    init?(json: JSONValue, seed: UInt64) {
        func generator(_ key: String) -> RandomGenerator? {
            guard case let .array(items)? = json[key] else { return nil }
            let words = items.compactMap { item -> UInt64? in
                guard case let .string(text) = item else { return nil }
                return UInt64(text, radix: 16)
            }
            return words.count == items.count ? RandomGenerator(state: words) : nil
        }
        func count(_ object: JSONValue?, _ key: String) -> Int? {
            guard case let .number(n)? = object?[key], n == n.rounded(), n >= 0, n < 9e15 else { return nil }
            return Int(n)
        }
        func number(_ object: JSONValue?, _ key: String) -> Double?? {
            switch object?[key] {
            case .null?: return .some(nil)
            case let .number(n)?: return .some(n)
            default: return nil
            }
        }
        guard let epochs = count(json, "epochs_completed"),
              let shuffle = generator("shuffle_rng"), let dropout = generator("dropout_rng") else { return nil }
        let augmentation: RandomGenerator
        if json["augmentation_rng"] == nil {
            augmentation = RandomGenerator(seed: seed, stream: RandomStream.augmentation.rawValue)
        } else {
            guard let stored = generator("augmentation_rng") else { return nil }
            augmentation = stored
        }
        self.init(epochsCompleted: epochs, shuffleGenerator: shuffle, dropoutGenerator: dropout, augmentationGenerator: augmentation)
        if let early = json["early_stopping"] {
            guard let wait = count(early, "wait"), let best = number(early, "best"), let bestEpoch = count(early, "best_epoch"),
                  let stopped = count(early, "stopped_epoch"), case let .bool(hasWeights)? = early["best_weights"] else { return nil }
            (earlyStopping.wait, earlyStopping.best, earlyStopping.bestEpoch) = (wait, best, bestEpoch)
            (earlyStopping.stoppedEpoch, earlyStopping.bestWeights) = (stopped, hasWeights ? [] : nil)
        }
        if let list = json["history"] {
            guard case let .array(rows) = list else { return nil }
            for row in rows {
                guard case let .array(items) = row, items.count == 6, case let .number(epoch) = items[0], case let .number(loss) = items[1],
                      case let .number(accuracy) = items[2], case let .number(rate) = items[5] else { return nil }
                func value(_ item: JSONValue) -> Double? { if case let .number(n) = item { return n } else { return nil } }
                history.append(EpochFigures(epoch: Int(epoch), loss: loss, accuracy: accuracy, validationLoss: value(items[3]),
                                            validationAccuracy: value(items[4]), learningRate: rate))
            }
        }
        if let plateau = json["reduce_lr_on_plateau"] {
            guard let wait = count(plateau, "wait"), let cooldown = count(plateau, "cooldown_counter"), let best = number(plateau, "best") else { return nil }
            (self.plateau.wait, self.plateau.cooldownCounter, self.plateau.best) = (wait, cooldown, best)
        }
    }
}
