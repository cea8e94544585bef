/// A problem with a model spec: the file, the JSON path of the bad key
/// (`layers[1].units`), and what was expected against what was found.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// The config file, when known (the spec parser adds it).
    public var file: String?
    /// Where in the spec: a JSON path such as `layers[1].activation`, or an option name.
    public let path: String
    /// What is wrong and what was expected.
    public let message: String
    /// The file itself is missing (exit 66 rather than 65).
    public let isMissingFile: Bool

    /// An error at `path` in the spec (and in `file`, when known).
    public init(file: String? = nil, path: String, message: String, isMissingFile: Bool = false) {
        self.file = file
        self.path = path
        self.message = message
        self.isMissingFile = isMissingFile
    }

    /// "<file>: <path>: <message>", leaving out what is not known.
    public var description: String {
        [file, path.isEmpty ? nil : path, message].compactMap { $0 }.joined(separator: ": ")
    }

}
