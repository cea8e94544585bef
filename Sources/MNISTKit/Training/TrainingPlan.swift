/// What a `mnist-train` invocation asks for: a fresh spec or a checkpoint to
/// resume, with the command line's overrides applied and checked.
public struct TrainingPlan {
    /// The spec to train: the config's, or the checkpoint's, with the overrides applied.
    public let spec: ModelSpec
    /// The checkpoint being resumed, if any.
    public let checkpoint: Checkpoint?
    /// Its path.
    public let checkpointPath: String?
    /// A weights file to start from instead of random initialisation.
    public let initPath: String?
    /// The config file, when one was given.
    public let configPath: String?

    /// `configSearch`: where a bare config name is looked up (see `ModelSpec.load`).
    public init(configPath: String?, resumePath: String?, epochs: Int?, batchSize: Int?, seed: UInt64?,
                configSearch: [String] = ["configs"], initPath: String? = nil) throws {
        if initPath != nil, resumePath != nil {
            throw PlanError(parameter: .initialWeights, message: "starts a fresh run; a resumed run keeps its checkpoint's weights")
        }
        self.initPath = initPath
        self.configPath = configPath
        var spec: ModelSpec
        if let resumePath {
            let checkpoint = try Checkpoint.load(path: resumePath)
            spec = checkpoint.spec
            if let configPath {
                let given = try ModelSpec.load(path: configPath, searchDirectories: configSearch)
                guard given.sameArchitecture(as: spec) else {
                    throw ConfigError(file: configPath, path: "", message: "describes a different model than the checkpoint \(resumePath) (layers, input, loss and optimizer must match)")
                }
            }
            if let seed, seed != spec.seed {
                throw PlanError(parameter: .seed, message: "\(seed) differs from the checkpoint's seed \(spec.seed); a resumed run keeps its seed")
            }
            if let epochs, epochs < checkpoint.state.epochsCompleted {
                throw PlanError(parameter: .epochs, message: "\(epochs) is fewer than the \(checkpoint.state.epochsCompleted) epochs the checkpoint has done; the epochs are counted in total, not added")
            }
            self.checkpoint = checkpoint
        } else if let configPath {
            spec = try ModelSpec.load(path: configPath, searchDirectories: configSearch)
            if let seed { spec.seed = seed }
            checkpoint = nil
        } else {
            throw PlanError(parameter: .config, message: "no spec: give a config or a checkpoint to resume")
        }
        if let epochs { spec.epochs = epochs }
        if let batchSize { spec.batchSize = batchSize }
        self.spec = spec
        checkpointPath = resumePath
    }

    /// Both splits of the data to train on: for a resumed run, the data the
    /// checkpoint was trained on; for a fresh one, the spec's dataset (a lookup
    /// name; `locator`'s explicit folder, when set, wins over both).
    public func loadData(_ locator: DatasetLocator) throws -> (directory: String, train: Dataset, test: Dataset) {
        try attributingSpecErrors { try locator.loadTrainAndTest(checkpoint?.datasetLookupNames ?? [spec.dataset], labels: LabelSettings(spec: spec), images: ImageSettings(spec: spec)) }
    }

    /// The trainer for this plan: fresh (from random weights or `initPath`'s), or restored from the checkpoint.
    public func makeTrainer(train: Dataset, workers: WorkerPool = .serial) throws -> Trainer {
        try attributingSpecErrors { try trainer(train: train, workers: workers) }
    }

    /// Runs `body`; a spec error it throws (a layer that does not fit the
    /// data, say) names the file the spec came from, as every spec error does.
    private func attributingSpecErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch var error as ConfigError {
            if error.file == nil { error.file = configPath ?? checkpointPath }
            throw error
        }
    }

    private func trainer(train: Dataset, workers: WorkerPool) throws -> Trainer {
        guard let checkpoint, let checkpointPath else {
            let trainer = try Trainer(spec: spec, train: train, workers: workers)
            if let initPath {
                // Step 0, a fresh optimizer: only the weights come from the file.
                let (file, source) = try WeightsSource.load(path: initPath, for: trainer.model)
                try trainer.model.loadWeights(file, path: initPath)
                trainer.weightsSource = source
            }
            return trainer
        }
        let (model, optimizer, state) = try checkpoint.restore(path: checkpointPath, classCount: train.classCount, spec: spec)
        let trainer = try Trainer(model: model, optimizer: optimizer, state: state, train: train, workers: workers)
        trainer.weightsSource = checkpoint.weightsSource
        return trainer
    }
}

/// A parameter of the plan that contradicts another or the checkpoint being resumed.
public struct PlanError: Error, Equatable, CustomStringConvertible {
    /// `TrainingPlan.init`'s parameters, as the library names them; a command
    /// spells them as its own flags.
    public enum Parameter: String, Sendable {
        case config, initialWeights = "init", epochs, seed
    }
    /// The parameter at fault.
    public let parameter: Parameter
    /// How it contradicts the rest.
    public let message: String
    /// "<parameter>: <message>".
    public var description: String { "\(parameter.rawValue): \(message)" }
}

extension ModelSpec {
    /// Same layers, input, loss and optimizer: a checkpoint of one can continue as the other.
    public func sameArchitecture(as other: ModelSpec) -> Bool {
        layers == other.layers && inputShape == other.inputShape && loss == other.loss && labelSmoothing == other.labelSmoothing && optimizer == other.optimizer
    }
}
