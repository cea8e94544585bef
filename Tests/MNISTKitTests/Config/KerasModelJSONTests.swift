import Foundation
import MNISTKit
import XCTest

/// Keras 3's model JSON as a config: the fixtures in Tests/KerasFixtures were
/// written by Keras itself (scripts/make_keras_fixtures.py), with each model's
/// `count_params()` beside them.
final class KerasModelJSONTests: XCTestCase {
    func fixture(_ name: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent("Tests/KerasFixtures/\(name).json"), encoding: .utf8)
    }

    func kerasParameterCount(_ name: String) throws -> Int {
        guard case let .number(count)? = try JSONParser.parse(try fixture("params"))[name] else { throw XCTSkip("no count for \(name)") }
        return Int(count)
    }

    /// keras-io's simple convnet, as Keras wrote it, is the spec one writes by hand.
    func testSequentialModelIsTheSpecWrittenByHand() throws {
        let spec = try ModelSpec.parse(try fixture("sequential-cnn"))
        let byHand = try ModelSpec.parse(#"""
            {"name": "sequential", "input_shape": [28, 28, 1], "layers": [
              {"type": "conv2d", "name": "conv2d", "filters": 32, "kernel_size": 3, "activation": "relu"},
              {"type": "max_pooling2d", "name": "max_pooling2d", "pool_size": 2},
              {"type": "conv2d", "name": "conv2d_1", "filters": 64, "kernel_size": 3, "activation": "relu"},
              {"type": "max_pooling2d", "name": "max_pooling2d_1", "pool_size": 2},
              {"type": "flatten", "name": "flatten"},
              {"type": "dropout", "name": "dropout", "rate": 0.5},
              {"type": "dense", "name": "dense", "units": 10, "activation": "softmax"}],
             "loss": "categorical_crossentropy", "optimizer": "adam", "metrics": ["accuracy"]}
            """#)
        XCTAssertEqual(spec.layers, byHand.layers)
        XCTAssertEqual(spec.inputShape, byHand.inputShape)
        XCTAssertEqual(spec.loss, byHand.loss)
        XCTAssertEqual(spec.optimizer.kind, .adam)
        XCTAssertEqual(spec.optimizer.beta2, 0.999)
        guard case let .constant(rate) = spec.optimizer.learningRate else { return XCTFail("\(spec.optimizer.learningRate)") }
        XCTAssertEqual(rate, 0.001, accuracy: 1e-9)  // Keras writes its float32 0.001
        XCTAssertEqual([spec.epochs, spec.batchSize], [1, 32], "what the JSON does not hold is fit()'s defaults")
        XCTAssertEqual(try Model(spec: spec).parameterCount, try kerasParameterCount("sequential-cnn"))
    }

    /// A functional model: a residual add, a two-branch concatenate, the
    /// normalizations, activation layers, AdamW under cosine decay and label smoothing.
    func testFunctionalModelKeepsItsGraphAndCompileArguments() throws {
        let spec = try ModelSpec.parse(try fixture("functional-residual"))
        let types = spec.layers.map(\.typeName)
        XCTAssertEqual(types, ["random_flip", "conv2d", "batch_normalization", "activation", "conv2d", "batch_normalization", "add",
                               "activation", "max_pooling2d", "depthwise_conv2d", "separable_conv2d", "concatenate",
                               "layer_normalization", "activation", "global_average_pooling2d", "dropout", "dense"])
        XCTAssertEqual(spec.layers[3].json["activation"], .string("relu"), "Keras' ReLU layer")
        XCTAssertEqual(spec.layers[13].json["activation"], .string("leaky_relu"), "Keras' LeakyReLU layer")
        XCTAssertEqual(spec.layers[0].inputs, ["input"])
        let add = spec.layers[6], concatenate = spec.layers[11]
        XCTAssertEqual(add.inputs, [spec.layers[5].name!, spec.layers[3].name!], "the add reads the block's end and the stem")
        XCTAssertEqual(concatenate.inputs, [spec.layers[9].name!, spec.layers[10].name!])
        XCTAssertEqual(spec.layers[4].json["kernel_initializer"], .string("he_uniform"))
        XCTAssertEqual(spec.layers[9].json["depth_multiplier"], .number(2))
        XCTAssertEqual(spec.layers[10].json["activation"], .string("gelu"))
        XCTAssertEqual(spec.loss, .categoricalCrossentropy)
        XCTAssertEqual(spec.labelSmoothing, 0.1, accuracy: 1e-9)
        XCTAssertEqual(spec.optimizer.kind, .adamw)
        XCTAssertEqual(spec.optimizer.weightDecay ?? 0, 0.004, accuracy: 1e-9)
        guard case let .cosineDecay(initial, steps, alpha, target, warmup) = spec.optimizer.learningRate else {
            return XCTFail("\(spec.optimizer.learningRate)")
        }
        XCTAssertEqual([initial, steps, alpha, target ?? 0, warmup], [0.0002, 1000, 0, 0.004, 100])
        XCTAssertEqual(try Model(spec: spec).parameterCount + (try Model(spec: spec).nonTrainableCount),
                       try kerasParameterCount("functional-residual"))
        // The resolved spec is ours from here on: it round-trips as any spec does.
        XCTAssertEqual(try ModelSpec.parse(spec.json.serialized), spec)
    }

    /// What Keras' JSON holds that we cannot honour is an error naming the
    /// layer and the argument; a value that changes nothing is accepted.
    func testWhatCannotBeHonouredIsANamedError() throws {
        XCTAssertThrowsError(try ModelSpec.parse(try fixture("regularized"))) { error in
            XCTAssertEqual("\(error)", "layers[2] (Dense): kernel_regularizer is not supported")
        }
        XCTAssertThrowsError(try ModelSpec.parse(try fixture("shared-layer"))) { error in
            XCTAssertTrue("\(error)".contains("(Conv2D): a layer called 2 times (a shared layer) is not supported"), "\(error)")
        }
        let cnn = try fixture("sequential-cnn")
        let cases: [(String, String, String)] = [
            (#""dilation_rate": [1, 1]"#, #""dilation_rate": [2, 2]"#, "layers[1] (Conv2D): dilation_rate [2,2] is not supported; only 1"),
            (#""trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "filters": 64"#,
             #""trainable": false, "dtype": "float32", "filters": 64"#, "layers[3] (Conv2D): trainable false (a frozen layer) is not supported"),
            (#""noise_shape": null"#, #""noise_shape": [1, 1]"#, "layers[6] (Dropout): noise_shape [1,1] is not supported; only null"),
            (#""class_name": "Flatten""#, #""class_name": "Rescaling""#, "layers[5] (Rescaling): the Keras layer Rescaling is not supported: mnist-train feeds every model images already scaled to [0, 1]"),
            (#""activation": "softmax""#, #""activation": "selu""#, "layers[7] (Dense).activation: unknown activation \"selu\""),
            (#""loss": "categorical_crossentropy""#, #""loss": "poisson""#, "compile_config.loss: the loss \"poisson\" is not supported"),
            (#""amsgrad": false"#, #""amsgrad": true"#, "compile_config.optimizer (Adam): amsgrad true is not supported"),
        ]
        for (original, replacement, expected) in cases {
            let text = cnn.replacingOccurrences(of: original, with: replacement)
            XCTAssertNotEqual(text, cnn, "the fixture no longer has \(original)")
            XCTAssertThrowsError(try ModelSpec.parse(text)) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(error)\nexpected: \(expected)")
            }
        }
        // An L2 of 0.0 (in the functional fixture) and an l1 of 0 change nothing.
        let zero = cnn.replacingOccurrences(of: #""kernel_regularizer": null"#, with: #""kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2", "config": {"l1": 0.0, "l2": 0}}"#)
        XCTAssertEqual(try ModelSpec.parse(zero), try ModelSpec.parse(cnn))
        // Without compile_config there is no loss to train on.
        let uncompiled = #"{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 4]}}, {"class_name": "Dense", "config": {"units": 2}}]}}"#
        XCTAssertThrowsError(try ModelSpec.parse(uncompiled)) { error in
            XCTAssertTrue("\(error)".hasPrefix("compile_config: missing; compile the model in Keras"), "\(error)")
        }
    }
}
