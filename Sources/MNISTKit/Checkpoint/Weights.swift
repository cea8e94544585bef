import Foundation

// Weights in and out by Keras' names: `dense_1.kernel` (inputs, units),
// `conv2d_1.kernel` (kh, kw, in, out), `batch_normalization_1.moving_mean`, ...
// the variables Keras' `get_weights` lists, in its order, and nothing else.

/// Where a run's first weights came from: the file's name (not its path) and digest.
public struct WeightsSource: Equatable, Sendable {
    /// The weights file's name, without its folder.
    public let file: String
    /// The SHA-256 of its bytes, in lowercase hex.
    public let sha256: String

    /// A record of weights read from `file` with digest `sha256`.
    public init(file: String, sha256: String) {
        (self.file, self.sha256) = (file, sha256)
    }
}

extension Model {
    /// Sets every variable from the file's tensor of the same name. A missing,
    /// extra or wrongly shaped tensor is an error naming it with both shapes;
    /// F16 and BF16 tensors arrive converted.
    public func loadWeights(_ file: SafetensorsFile, path: String) throws(SafetensorsError) {
        func fail(_ message: String) -> SafetensorsError { SafetensorsError(path: path, message: message) }
        for slot in variables {
            guard let tensor = file.tensor(slot.name) else {
                throw fail("missing tensor \(slot.name), shape \(formatShape(slot.shape)), which the spec's layers need")
            }
            guard tensor.shape == slot.shape else {
                throw fail("tensor \(slot.name) has shape \(formatShape(tensor.shape)), but the spec's layer needs \(formatShape(slot.shape))")
            }
        }
        let names = Set(variables.map(\.name))
        if let extra = file.tensors.first(where: { !names.contains($0.name) }) {
            throw fail("unexpected tensor \(extra.name), shape \(formatShape(extra.shape)), which the spec's layers do not have (they have \(variables.map(\.name).joined(separator: ", ")))")
        }
        for slot in variables { buffer(of: slot).assign(file.tensor(slot.name)!.values, at: slot.offset) }
    }

    /// The `format` metadata value of weights-only files.
    public static let weightsFormat = "mnist-train-weights"

    /// The variables alone, as a safetensors file: `format` (`weightsFormat`), then `metadata`.
    public func weightsFile(metadata: [(key: String, value: String)] = []) -> SafetensorsFile {
        SafetensorsFile(metadata: [("format", Model.weightsFormat)] + metadata, tensors: variables.map {
            SafetensorsFile.Tensor(name: $0.name, shape: $0.shape, values: buffer(of: $0).slice($0.offset, $0.count))
        })
    }
}
