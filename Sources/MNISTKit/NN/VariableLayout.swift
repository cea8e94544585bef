// How layers declare their variables, and where those live in the flat buffers.

/// A variable a layer declares, under Keras' name.
struct VariableDeclaration {
    let name: String
    let shape: [Int]
    let initializer: Initializer
    let fanIn: Int
    let fanOut: Int
    let trainable: Bool
}

/// Lays the variables out as the model builds: trainable ones in the flat
/// parameter buffer, the others (batch norm's moving statistics) in a second.
struct VariableLayout {
    private(set) var declarations = [(layer: String, declaration: VariableDeclaration, offset: Int)]()
    private(set) var trainableCount = 0
    private(set) var nonTrainableCount = 0
    var layerName = ""

    /// Declares a variable of the current layer; returns its offset in its buffer.
    mutating func declare(_ name: String, shape: [Int], initializer: Initializer, fanIn: Int = 0, fanOut: Int = 0,
                          trainable: Bool = true, path: String) throws(ConfigError) -> Int {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Model.maximumParameterCount else { throw tooLarge(path) }
            count = product
        }
        let offset = trainable ? trainableCount : nonTrainableCount
        guard offset + count <= Model.maximumParameterCount else { throw tooLarge(path) }
        if trainable { trainableCount += count } else { nonTrainableCount += count }
        declarations.append((layerName, VariableDeclaration(name: name, shape: shape, initializer: initializer, fanIn: fanIn,
                                                            fanOut: fanOut, trainable: trainable), offset))
        return offset
    }

    private func tooLarge(_ path: String) -> ConfigError {
        ConfigError(path: path, message: "makes the model larger than the \(Model.maximumParameterCount) parameters this tool supports")
    }
}
