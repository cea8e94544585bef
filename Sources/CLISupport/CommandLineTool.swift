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

/// The exit status for each kind of failure.
public func exitStatus(for category: ErrorCategory) -> Int32 {
    switch category {
    case .missingFile: return ExitStatus.missingFile
    case .badInput: return ExitStatus.badInput
    case .cannotWrite: return ExitStatus.cannotCreate
    case .usage: return ExitStatus.usage
    case .diverged: return ExitStatus.software
    case .interrupted: return ExitStatus.interrupted
    }
}

/// The exit status an error deserves: its category's; 70 for anything that is
/// not one of ours (a bug, not the user's doing).
public func exitStatus(for error: Error) -> Int32 {
    (error as? MNISTKitError).map { exitStatus(for: $0.category) } ?? ExitStatus.software
}

/// What the user can do about an error, in the commands' flag spellings.
func hint(for error: Error) -> String {
    guard case let .notFound(name, _)? = error as? DatasetError else { return "" }
    return " (pass --data PATH: a folder of IDX files, of CSV files or of class folders, an .npz or a CSV file; or set MNIST_DATA_DIR to a folder holding \(name)/)"
}

/// A failure a command itself detects, in the library's vocabulary.
public struct UsageError: MNISTKitError {
    public let description: String
    public let category: ErrorCategory

    public init(_ description: String, category: ErrorCategory = .usage) {
        self.description = description
        self.category = category
    }
}

extension ParsableCommand {
    /// Parses the command line and runs, turning every failure into one
    /// `error:` line on stderr and a documented exit status; never a stack trace.
    public static func runAsTool() -> Never {
        OpenBLASKernel.useSuitableKernel()
        // A reader that closes stdout early (`| head`) ends the report quietly;
        // the command goes on, so the files it was asked for are still written.
        signal(SIGPIPE, SIG_IGN)
        // The command itself, or one of its subcommands (mnist-sweep's).
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
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
        } catch where exitCode(for: error) == .success {
            // --help (ArgumentParser's help command runs by throwing), or a command of subcommands run bare.
            printOut(fullMessage(for: error))
            Glibc.exit(0)
        } catch {
            printError("error: \(error)\(hint(for: error))")
            Glibc.exit(exitStatus(for: error))
        }
    }
}

/// Whether standard output is a terminal (progress then redraws in place).
public var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
