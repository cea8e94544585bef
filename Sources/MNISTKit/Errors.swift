// One error vocabulary: every error the library throws says which kind of
// failure it is, and a command's exit status is a lookup of that kind
// (`exitStatus(for:)` in CLISupport), never of the type or the message text.

/// The kinds of failure, as a caller (or a script reading exit codes) tells them apart.
public enum ErrorCategory: Sendable, CaseIterable {
    /// A file or dataset that should be there is not.
    case missingFile
    /// A file or spec is there but its contents are wrong.
    case badInput
    /// An output cannot be written.
    case cannotWrite
    /// The request contradicts itself or what it continues (a resumed run).
    case usage
    /// Training produced a non-finite loss.
    case diverged
    /// Training was asked to stop part-way.
    case interrupted
}

/// An error of the library: its message (`description`, naming the file or
/// path) and its category.
public protocol MNISTKitError: Error, CustomStringConvertible {
    /// Which kind of failure this is.
    var category: ErrorCategory { get }
}

extension ConfigError: MNISTKitError {
    public var category: ErrorCategory { isMissingFile ? .missingFile : .badInput }
}

extension JSONSyntaxError: MNISTKitError {
    public var category: ErrorCategory { .badInput }
}

extension FileProblem: MNISTKitError {
    public var category: ErrorCategory { self == .notFound ? .missingFile : .badInput }
}

extension NumPyError: MNISTKitError {
    public var category: ErrorCategory { .badInput }
}

extension IDXError: MNISTKitError {
    public var category: ErrorCategory {
        if case let .unreadable(_, problem) = self { return problem.category }
        return .badInput
    }
}

extension DatasetError: MNISTKitError {
    public var category: ErrorCategory {
        switch self {
        case .notFound, .missingFile: return .missingFile
        case .oneSplit: return .usage
        default: return .badInput
        }
    }
}

extension SafetensorsError: MNISTKitError {
    public var category: ErrorCategory { isMissingFile ? .missingFile : .badInput }
}

extension CheckpointError: MNISTKitError {
    public var category: ErrorCategory {
        switch kind {
        case .missingFile: return .missingFile
        case .invalid: return .badInput
        case .cannotWrite: return .cannotWrite
        }
    }
}

extension OutputPathProblem: MNISTKitError {
    public var category: ErrorCategory {
        if case .cannotWrite = self { return .cannotWrite }
        return .usage
    }
}

extension ImageError.Problem: MNISTKitError {
    public var category: ErrorCategory {
        if case let .file(problem) = self { return problem.category }
        return .badInput
    }
}

extension ImageError: MNISTKitError {
    public var category: ErrorCategory { problem.category }
}

extension PlanError: MNISTKitError {
    public var category: ErrorCategory { .usage }
}

extension FitError: MNISTKitError {
    public var category: ErrorCategory { .cannotWrite }
}

extension TrainingError: MNISTKitError {
    public var category: ErrorCategory {
        switch self {
        case .diverged: return .diverged
        case .stopped: return .interrupted
        }
    }
}
