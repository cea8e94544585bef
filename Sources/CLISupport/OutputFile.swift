import Foundation

/// Writes a whole output file (a plot, an exported model, a picture) through a temporary file
/// renamed over the old one, so no reader ever sees half of it.
public func writeOutputFile(_ bytes: [UInt8], to path: String, what: String) throws {
    do {
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw UsageError("\(path): cannot write the \(what): \(error.localizedDescription)", category: .cannotWrite)
    }
}
