import ArgumentParser
@preconcurrency import Glibc
import MNISTKit

/// Exit codes (sysexits.h): distinct for each kind of failure so scripts can tell them apart.
public enum ExitStatus {
    public static let usage: Int32 = 64
    public static let badInput: Int32 = 65
    public static let missingFile: Int32 = 66
    public static let software: Int32 = 70
    public static let cannotCreate: Int32 = 73
    public static let interrupted: Int32 = 130
    public static let terminated: Int32 = 143
}

/// Writes one line to standard error.
public func printError(_ line: String) {
    fputs(line + "\n", stderr)
}

/// Writes text to standard output and flushes, so progress shows at once.
public func printOut(_ text: String, terminator: String = "\n") {
    fputs(text + terminator, stdout)
    fflush(stdout)
}

/// The exit status a library error deserves: 66 for a missing file, 65 for bad contents.
public func exitStatus(for error: Error) -> Int32 {
    switch error {
    case let error as ConfigError: return error.isMissingFile ? ExitStatus.missingFile : ExitStatus.badInput
    case let error as IDXError:
        if case .unreadable(_, .notFound) = error { return ExitStatus.missingFile }
        return ExitStatus.badInput
    case let error as DatasetError:
        switch error {
        case .notFound, .missingFile: return ExitStatus.missingFile
        default: return ExitStatus.badInput
        }
    case let error as CheckpointError:
        switch error.kind {
        case .missingFile: return ExitStatus.missingFile
        case .cannotWrite: return ExitStatus.cannotCreate
        case .invalid: return ExitStatus.badInput
        }
    case is FitError: return ExitStatus.cannotCreate
    case let error as SafetensorsError: return error.isMissingFile ? ExitStatus.missingFile : ExitStatus.badInput
    case let error as TrainingError:
        if case .diverged = error { return ExitStatus.software }
        return ExitStatus.interrupted
    case let error as ImageError:
        if case .file(.notFound) = error.problem { return ExitStatus.missingFile }
        return ExitStatus.badInput
    case let error as UsageError: return error.status
    case let error as OutputPathProblem:
        if case .cannotWrite = error { return ExitStatus.cannotCreate }
        return ExitStatus.usage
    case is PlanError: return ExitStatus.usage
    default: return ExitStatus.software
    }
}

/// A failure the command itself detects, with its exit status.
public struct UsageError: Error, CustomStringConvertible {
    public let description: String
    public let status: Int32

    public init(_ description: String, status: Int32 = ExitStatus.usage) {
        self.description = description
        self.status = status
    }
}

extension ParsableCommand {
    /// Parses the command line and runs, turning every failure into one
    /// `error:` line on stderr and a documented exit status; never a stack trace.
    public static func runAsTool() -> Never {
        OpenBLASKernel.useSuitableKernel()
        var command: Self
        do {
            guard let parsed = try parseAsRoot() as? Self else { throw CleanExit.helpRequest(self) }
            command = parsed
        } catch {
            let status = exitCode(for: error).rawValue
            let message = fullMessage(for: error)
            if status == 0 {
                printOut(message)
                Glibc.exit(0)
            }
            // One error line (ArgumentParser's message, with its "did you mean"),
            // then its usage line and the pointer to --help.
            let first = message.split(separator: "\n").first.map(String.init) ?? "invalid command line"
            printError("error: \(first.hasPrefix("Error: ") ? String(first.dropFirst(7)) : first)")
            printError("Usage: \(usageString())")
            printError("  See '\(configuration.commandName ?? "the tool") --help' for more information.")
            Glibc.exit(status == 1 ? ExitStatus.usage : status)
        }
        do {
            try command.run()
            Glibc.exit(0)
        } catch let exit as ExitCode {
            Glibc.exit(exit.rawValue)
        } catch {
            printError("error: \(error)")
            Glibc.exit(exitStatus(for: error))
        }
    }
}

/// Whether standard output is a terminal (progress then redraws in place).
public var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
