// libFuzzer target for Keras weights (`--init model.keras` or `x.weights.h5`): the zip
// through libzip, the HDF5 image through libhdf5, and every variable's shape check.
// The seeds in corpus/keras were written by Keras itself for this model
// (scripts/make_keras_fuzz_corpus.py).

let kerasFuzzSpec = """
    {"version": 1, "loss": "categorical_crossentropy", "input_shape": [4, 4], "layers": [
     {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same", "name": "c"},
     {"type": "conv2d", "filters": 2, "kernel_size": 1, "name": "d", "inputs": ["c"]},
     {"type": "add", "inputs": ["c", "d"]}, {"type": "flatten"}, {"type": "batch_normalization"},
     {"type": "dense", "units": 10, "activation": "softmax"}]}
    """
nonisolated(unsafe) let kerasFuzzModel = try! Model(spec: ModelSpec.parse(kerasFuzzSpec))  // a constant spec

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKerasWeights(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if Model.isKerasWeights(bytes), let file = try? kerasFuzzModel.kerasWeights(bytes, path: "fuzz.keras") {
        try? kerasFuzzModel.loadWeights(file, path: "fuzz.keras")
    }
    return 0
}
