import MNISTKit
import XCTest

/// The parts of the `.keras` writer that Keras' loader depends on by position, checked
/// against hand-worked answers (the Python interop test checks the whole file in Keras).
final class KerasExportTests: XCTestCase {
    /// input -> a, input -> b -> c, add(a, c): Keras lists [input, b, a, c, add]
    /// (depth from the output, deepest first; ties by first visit from the output),
    /// which is what `keras.Model(...).layers` printed for this graph.
    func testLayerOrderIsKerasMapGraph() {
        XCTAssertEqual(Model.kerasLayerOrder(inputs: [[], [0], [0], [2], [1, 3]]), [0, 2, 1, 3, 4])
        // A stack keeps its order; a layer read by two merges sits at its longest distance.
        XCTAssertEqual(Model.kerasLayerOrder(inputs: [[], [0], [1], [2]]), [0, 1, 2, 3])
        // input -> t; a(t); add(t, a); add2(add, t): t is deepest through a.
        XCTAssertEqual(Model.kerasLayerOrder(inputs: [[], [0], [1], [1, 2], [3, 1]]), [0, 1, 2, 3, 4])
    }

    func testGroupNamesAreKerasSnakeCase() {
        let expected = ["Conv2D": "conv2d", "BatchNormalization": "batch_normalization", "InputLayer": "input_layer",
                        "GlobalAveragePooling2D": "global_average_pooling2d", "SeparableConv2D": "separable_conv2d",
                        "DepthwiseConv2D": "depthwise_conv2d", "ZeroPadding2D": "zero_padding2d", "Dense": "dense"]
        for (className, group) in expected { XCTAssertEqual(Model.kerasSnakeCase(className), group) }
    }

    /// (H, W) images get a Reshape to (H, W, 1) before the first convolution, as Keras needs;
    /// a dense model on (H, W) does not.
    func testConvolutionOnHeightWidthInputGetsAChannelAxis() throws {
        let spec = try ModelSpec.parse("""
            {"version": 1, "loss": "categorical_crossentropy", "input_shape": [8, 8], "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3},
             {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}
            """)
        let layers = items(try Model(spec: spec).kerasConfig()["config"]?["layers"])
        XCTAssertEqual(layers.map { $0["class_name"] }, ["InputLayer", "Reshape", "Conv2D", "Flatten", "Dense"].map { .string($0) })
        XCTAssertEqual(layers[1]["config"]?["target_shape"], .array([.number(8), .number(8), .number(1)]))
        // Each layer is called on the one before it.
        for (layer, previous) in zip(layers.dropFirst(), layers) {
            let argument = items(items(layer["inbound_nodes"]).first?["args"]).first
            let history = items(argument?["config"]?["keras_history"]).first
            XCTAssertEqual(history, previous["name"])
        }
        let dense = try ModelSpec.parse("""
            {"version": 1, "loss": "categorical_crossentropy", "input_shape": [8, 8], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}
            """)
        let denseLayers = items(try Model(spec: dense).kerasConfig()["config"]?["layers"])
        XCTAssertEqual(denseLayers.map { $0["class_name"] }, ["InputLayer", "Flatten", "Dense"].map { .string($0) })
    }

    private func items(_ value: JSONValue?) -> [JSONValue] {
        if case let .array(items)? = value { return items }
        return []
    }

    /// A folder that is not there: one error naming the file, nothing left behind.
    func testUnwritablePathIsAnErrorNamingIt() throws {
        let spec = try ModelSpec.parse("""
            {"version": 1, "loss": "categorical_crossentropy", "input_shape": [4], "layers": [{"type": "dense", "units": 10, "activation": "softmax"}]}
            """)
        let path = "/nonexistent-folder/model.keras"
        XCTAssertThrowsError(try Model(spec: spec).writeKerasArchive(to: path)) { error in
            let error = error as? KerasExportError
            XCTAssertEqual(error?.path, path)
            XCTAssertEqual(error?.category, .cannotWrite)
        }
    }
}
