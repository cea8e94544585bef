import Foundation
import MNISTKit
import XCTest

final class ModelSpecTests: XCTestCase {
    let minimal = #"{"layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy"}"#

    func testDefaultsAreKeras() throws {
        let spec = try ModelSpec.parse(minimal)
        XCTAssertEqual(spec.version, 1)
        XCTAssertEqual(spec.dataset, "fashion-mnist")
        XCTAssertEqual(spec.inputShape, [28, 28])
        XCTAssertEqual(spec.optimizer, .rmsprop(learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false))
        XCTAssertEqual(spec.layers[1], .dense(units: 10, activation: .softmax, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros))
        XCTAssertEqual(spec.epochs, 1)
        XCTAssertEqual(spec.batchSize, 32)
        XCTAssertEqual(spec.validationSplit, 0)
        XCTAssertEqual(try ModelSpec.parse(#"{"layers": [{"type": "relu"}], "loss": "mean_squared_error", "optimizer": {"type": "adam"}}"#).optimizer,
                       .adam(learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7))
        XCTAssertEqual(try ModelSpec.parse(#"{"layers": [{"type": "relu"}], "loss": "mean_squared_error", "optimizer": "sgd"}"#).optimizer,
                       .sgd(learningRate: 0.01, momentum: 0, nesterov: false))
    }

    func testResolvedSpecRoundTripsThroughJSON() throws {
        for name in ["dense512.json", "mnist-dense512.json", "mlp3-sgd.json"] {
            let spec = try ModelSpec.load(path: packageRoot.appendingPathComponent("configs/\(name)").path)
            let text = spec.json.serialized
            XCTAssertEqual(try ModelSpec.parse(text), spec, name)
            XCTAssertEqual(try ModelSpec.parse(text).json.serialized, text, name)
        }
        let seed = try ModelSpec.load(path: packageRoot.appendingPathComponent("configs/dense512.json").path)
        XCTAssertEqual(seed.epochs, 5)
        XCTAssertEqual(seed.batchSize, 128)
        XCTAssertEqual(try Model(spec: seed).parameterCount, 407_050)
    }

    /// Each bad config, and the exact message a user sees.
    func testBadConfigsNameThePathAndTheValue() {
        let layers = #""layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]"#
        let cases: [(String, String)] = [
            (#"{"layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "relux"}], "loss": "categorical_crossentropy"}"#,
             #"layers[1].activation: unknown activation "relux"; expected one of relu, sigmoid, softmax, tanh, linear, leaky_relu, elu, gelu, silu, swish"#),
            (#"{"layers": [{"type": "dense", "units": 0}], "loss": "categorical_crossentropy"}"#,
             "layers[0].units: expected a positive integer, got 0"),
            (#"{"layers": [{"type": "dense", "units": 2.5}], "loss": "categorical_crossentropy"}"#,
             "layers[0].units: expected a positive integer, got 2.5"),
            (#"{"layers": [{"type": "dense", "unit": 10}], "loss": "categorical_crossentropy"}"#,
             "layers[0].unit: unknown key; did you mean \"units\"? expected one of type, units, activation, use_bias, kernel_initializer, bias_initializer, name, inputs"),
            (#"{"layers": [{"type": "dense"}], "loss": "categorical_crossentropy"}"#,
             "layers[0].units: missing; expected a positive integer"),
            (#"{"layers": [{"type": "lstm"}], "loss": "categorical_crossentropy"}"#,
             #"layers[0].type: unknown layer type "lstm"; expected one of dense, conv2d, max_pooling2d, average_pooling2d, global_average_pooling2d, global_max_pooling2d, zero_padding2d, batch_normalization, layer_normalization, dropout, flatten, reshape, activation, random_flip, random_translation, random_rotation, random_zoom, random_erasing, add, subtract, multiply, average, maximum, minimum, concatenate, depthwise_conv2d, separable_conv2d, relu, sigmoid, softmax, tanh, linear, leaky_relu, elu, gelu, silu, swish"#),
            (#"{"layers": [{"type": "conv2d"}], "loss": "categorical_crossentropy"}"#,
             #"layers[0].filters: missing; expected a positive integer, at most 4096"#),
            (#"{"layers": [{"type": "conv2d", "filters": 8, "kernel_size": [3, 0]}], "loss": "categorical_crossentropy"}"#,
             #"layers[0].kernel_size: expected a positive integer or a pair of them, at most 1024, got an array"#),
            (#"{"layers": [{"type": "conv2d", "filters": 8, "kernal_size": 3}], "loss": "categorical_crossentropy"}"#,
             #"layers[0].kernal_size: unknown key; did you mean "kernel_size"? expected one of type, filters, kernel_size, strides, padding, activation, use_bias, kernel_initializer, bias_initializer, name, inputs"#),
            (#"{"layers": [{"type": "max_pooling2d", "padding": "full"}], "loss": "categorical_crossentropy"}"#,
             #"layers[0].padding: unknown padding "full"; expected one of valid, same"#),
            ("{\(layers), \"loss\": \"hinge\"}",
             #"loss: unknown loss "hinge"; expected one of categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error"#),
            ("{\(layers)}", "loss: missing; expected one of categorical_crossentropy, sparse_categorical_crossentropy, mean_squared_error"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"optimizer\": \"adamx\"}",
             #"optimizer: unknown optimizer "adamx"; did you mean "adam"? expected one of sgd, rmsprop, adagrad, adam, adamw, nadam"#),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"optimizer\": {\"type\": \"rmsprop\", \"learning_rate\": -0.1}}",
             "optimizer.learning_rate: expected a positive number or a schedule object, got -0.1"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"optimizer\": {\"type\": \"sgd\", \"rho\": 0.9}}",
             "optimizer.rho: unknown key; expected one of type, learning_rate, weight_decay, clipnorm, global_clipnorm, clipvalue, momentum, nesterov"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"epochs\": \"5\"}", #"epochs: expected a non-negative integer, got "5""#),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"batch_size\": -1}", "batch_size: expected a positive integer, got -1"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"validation_split\": 1}",
             "validation_split: expected a number from 0 up to (not including) 1, got 1"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"epoch\": 5}",
             "epoch: unknown key; did you mean \"epochs\"? expected one of version, name, dataset, input_shape, layers, loss, optimizer, metrics, epochs, batch_size, validation_split, shuffle, seed, callbacks, classes, label_offset, class_names, image_size, prepare"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"image_size\": [28]}", "image_size: expected [height, width], got an array"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"image_size\": [28, 20000]}",
             "image_size[1]: expected an integer from 1 to 16384, got 20000"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"prepare\": \"mnst\"}",
             #"prepare: unknown image preparation "mnst"; expected one of as_is, mnist"#),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"version\": 2}",
             "version: 2 is newer than the newest version this MNISTKit (\(toolVersion)) reads, 1"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"metrics\": [\"auc\"]}",
             #"metrics[0]: unknown metric "auc"; expected one of accuracy"#),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"input_shape\": [28, 0]}", "input_shape[1]: expected a positive integer, got 0"),
            (#"{"layers": [], "loss": "categorical_crossentropy"}"#, "layers: expected a non-empty array of layer objects, got an array"),
            (#"{"layers": [{"type": "dropout", "rate": 1.5}], "loss": "categorical_crossentropy"}"#,
             "layers[0].rate: expected a number from 0 up to (not including) 1, got 1.5"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\",}", "invalid JSON at line 1, column 127: expected a string key"),
            ("{\(layers), \"loss\": \"categorical_crossentropy\", \"loss\": \"mean_squared_error\"}",
             #"invalid JSON at line 1, column 128: duplicate key "loss""#),
            ("[1, 2]", "expected an object, got an array"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try ModelSpec.parse(text), message) { XCTAssertEqual("\($0)", message) }
        }
    }

    func testImageFolderKeysReadAndWriteBack() throws {
        let spec = try ModelSpec.parse(#"{"layers": [{"type": "flatten"}], "loss": "categorical_crossentropy", "image_size": [32, 24], "prepare": "mnist"}"#)
        XCTAssertEqual(spec.imageSize, [32, 24])
        XCTAssertEqual(spec.prepare, .mnist)
        XCTAssertEqual(try ModelSpec(json: spec.json), spec)
        let plain = try ModelSpec.parse(#"{"layers": [{"type": "flatten"}], "loss": "categorical_crossentropy"}"#)
        XCTAssertNil(plain.imageSize)
        XCTAssertEqual(plain.prepare, .asIs)
    }

    func testFileErrorsNameTheFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertThrowsError(try ModelSpec.load(path: directory.appendingPathComponent("absent.json").path)) {
            XCTAssertEqual("\($0)", directory.appendingPathComponent("absent.json").path + ": no such file")
            XCTAssertTrue(($0 as? ConfigError)?.isMissingFile ?? false)
        }
        let bad = directory.appendingPathComponent("bad.json")
        try Data(#"{"layers": [{"type": "dense", "units": 0}], "loss": "categorical_crossentropy"}"#.utf8).write(to: bad)
        XCTAssertThrowsError(try ModelSpec.load(path: bad.path)) {
            XCTAssertEqual("\($0)", bad.path + ": layers[0].units: expected a positive integer, got 0")
        }
        // A bare name falls back to each search folder in turn; when none has it, the error lists them.
        let configs = packageRoot.appendingPathComponent("configs").path
        XCTAssertEqual(try ModelSpec.load(path: "dense512.json", searchDirectories: [directory.path, configs]).name, "dense512")
        XCTAssertThrowsError(try ModelSpec.load(path: "nosuch.json", searchDirectories: [directory.path, configs])) {
            XCTAssertEqual("\($0)", "nosuch.json: no such file; looked in: nosuch.json, \(directory.path)/nosuch.json, \(configs)/nosuch.json")
            XCTAssertTrue(($0 as? ConfigError)?.isMissingFile ?? false)
        }
    }

    func testJSONParserHandlesEscapesAndRejectsNonsense() throws {
        XCTAssertEqual(try JSONParser.parse(#"{"a": "x\"\\\/\n\u00e9\ud83d\ude00", "b": [1.5e2, -0, true, null]}"#),
                       .object([("a", .string("x\"\\/\né😀")), ("b", .array([.number(150), .number(0), .bool(true), .null]))]))
        for bad in ["", "{", "[1,]", "01", "1.", "\"\u{01}\"", "nul", "{\"a\" 1}", "[1] 2", "\"\\ud800\"", String(repeating: "[", count: 100)] {
            XCTAssertThrowsError(try JSONParser.parse(bad), bad)
        }
    }

    /// Every shipped config parses, survives its JSON round trip, and builds a
    /// model for its dataset's class count.
    func testEveryShippedConfigBuilds() throws {
        let folder = packageRoot.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertTrue(files.contains("mnist-fast.json") && files.contains("emnist-balanced-cnn.json"), "\(files)")
        for file in files {
            let spec = try ModelSpec.load(path: folder.appendingPathComponent(file).path)
            XCTAssertEqual(try ModelSpec(json: spec.json), spec, file)
            let classes = spec.classes ?? KnownDataset.named(spec.dataset)?.classNames.count ?? 10
            XCTAssertNoThrow(try Model(spec: spec, classCount: classes), file)
        }
    }
}
