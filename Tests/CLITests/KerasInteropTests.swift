import Foundation
import MNISTKit
import XCTest

/// A checkpoint rebuilt in Keras from the spec and tensors it stores
/// (scripts/keras_from_checkpoint.py) scores what mnist-eval scores.
final class KerasInteropTests: XCTestCase {
    private let backend = ["KERAS_BACKEND": ProcessInfo.processInfo.environment["KERAS_BACKEND"] ?? "jax"]

    /// Every layer type (`DigitModels.convolutional`), trained four epochs on 28x28 digits.
    func testKerasRebuildsTheEveryLayerModelAndAgrees() throws {
        guard try python(["-c", "import keras, safetensors, numpy"], environment: backend).status == 0 else {
            throw XCTSkip("python3 with keras (and jax), safetensors and numpy is not installed (.ci/run installs them with pip)")
        }
        let box = try Sandbox()
        let (checkpoint, data) = try DigitModels.train(box, layers: DigitModels.convolutional, name: "every-layer")
        try checkKerasAgrees(box, checkpoint: checkpoint, data: data, kerasModel: checkpoint)
    }

    /// `mnist-export --keras` of the every-layer model: Keras' own `load_model` opens it with no
    /// custom objects and computes our probabilities; its weights file has the groups, names
    /// and shapes Keras itself writes when it saves the same model again.
    func testKerasLoadsTheExportedEveryLayerModel() throws {
        guard try python(["-c", "import keras, safetensors, numpy, h5py"], environment: backend).status == 0 else {
            throw XCTSkip("python3 with keras (and jax), safetensors, numpy and h5py is not installed (.ci/run installs them with pip)")
        }
        let box = try Sandbox()
        let (checkpoint, data) = try DigitModels.train(box, layers: DigitModels.convolutional, name: "every-layer")
        let file = box.path("every-layer.keras")
        let export = try runTool("mnist-export", [checkpoint, "--keras", file])
        XCTAssertEqual(export.status, 0, export.stderr)
        XCTAssertTrue(export.stdout.hasPrefix("wrote \(file): Keras 3 functional model"), export.stdout)
        try checkKerasAgrees(box, checkpoint: checkpoint, data: data, kerasModel: file)

        let layout = """
            import sys, zipfile, io, h5py, keras
            def tree(h5):
                out = []
                h5.visititems(lambda name, item: out.append((name, dict(item.attrs), getattr(item, "shape", None))))
                return [entry for entry in out if not entry[0].startswith("optimizer")]
            ours = zipfile.ZipFile(sys.argv[1])
            assert [i.filename for i in ours.infolist()] == ["metadata.json", "config.json", "model.weights.h5"]
            assert all(i.compress_type == zipfile.ZIP_STORED for i in ours.infolist())
            keras.saving.load_model(sys.argv[1]).save(sys.argv[2])
            mine = tree(h5py.File(io.BytesIO(ours.read("model.weights.h5")), "r"))
            theirs = tree(h5py.File(io.BytesIO(zipfile.ZipFile(sys.argv[2]).read("model.weights.h5")), "r"))
            print("same" if mine == theirs else f"ours:   {mine}\\ntheirs: {theirs}")
            """
        let resaved = try python(["-c", layout, file, box.path("resaved.keras")], environment: backend)
        XCTAssertEqual(resaved.status, 0, resaved.stdout)
        XCTAssertEqual(resaved.stdout.split(separator: "\n").last, "same", resaved.stdout)
    }

    /// Keras' accuracy, loss and image-by-image probabilities for `kerasModel` (a checkpoint,
    /// rebuilt by keras_from_checkpoint.py, or a `.keras` file it opens) are mnist-eval's.
    private func checkKerasAgrees(_ box: Sandbox, checkpoint: String, data: String, kerasModel: String) throws {
        let eval = try runTool("mnist-eval", [checkpoint, "--data", data, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let ours = try JSONParser.parse(eval.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let script = packageRoot.appendingPathComponent("scripts/keras_from_checkpoint.py").path
        let probabilitiesFile = box.path("keras-probabilities.npy")
        let keras = try python([script, kerasModel, "--data", data, "--probabilities", probabilitiesFile], environment: backend)
        XCTAssertEqual(keras.status, 0, keras.stdout)
        let theirs = try JSONParser.parse(keras.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        guard case let .number(ourAccuracy)? = ours["accuracy"], case let .number(kerasAccuracy)? = theirs["accuracy"],
              case let .number(ourLoss)? = ours["loss"], case let .number(kerasLoss)? = theirs["loss"] else {
            return XCTFail("\(eval.stdout)\n\(keras.stdout)")
        }
        XCTAssertEqual(kerasAccuracy, ourAccuracy, accuracy: 0.002)
        XCTAssertEqual(kerasLoss, ourLoss, accuracy: 1e-4 * max(1, ourLoss))
        // Image by image: Keras' probabilities are ours. (This deep, odd model learns little from
        // 200 images, so agreement is the check; the probabilities must differ between images,
        // or agreeing would be trivial.)
        let dump = try python(["-c", "import json, sys, numpy; print(json.dumps(numpy.load(sys.argv[1]).tolist()))", probabilitiesFile])
        guard case let .array(rows)? = try? JSONParser.parse(dump.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            return XCTFail(dump.stdout)
        }
        let theirProbabilities = rows.map { row -> [Float] in
            guard case let .array(values) = row else { return [] }
            return values.compactMap { if case let .number(v) = $0 { return Float(v) } else { return nil } }
        }
        let test = try Dataset.load(imagesPath: data + "/t10k-images-idx3-ubyte", labelsPath: data + "/t10k-labels-idx1-ubyte")
        let (model, _, _) = try Checkpoint.load(path: checkpoint).restore(path: checkpoint, classCount: 10)
        let ourProbabilities = model.predict(test.images.map { Float($0) / 255 })
        XCTAssertEqual(theirProbabilities.count, test.count)
        var spread: Float = 0, worst: Float = 0
        for (n, row) in theirProbabilities.enumerated() {
            let mine = Array(ourProbabilities[n * 10 ..< (n + 1) * 10])
            worst = max(worst, zip(row, mine).map { abs($0 - $1) }.max() ?? 1)
            spread = max(spread, zip(mine, ourProbabilities[0 ..< 10]).map { abs($0 - $1) }.max() ?? 0)
        }
        print("Keras and ours differ by at most \(worst); the probabilities vary by \(spread) between images")
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertLessThan(worst * 20, spread, "the model gives every image nearly the same probabilities")
    }

    /// A new layer type cannot skip the interop checks: every registered type
    /// is in the every-layer model (ONNX and Keras tests) and in the Keras
    /// rebuild script's table, and its Keras class name is Keras' own.
    func testEveryLayerTypeIsCoveredByTheInteropModels() throws {
        let script = try String(contentsOf: packageRoot.appendingPathComponent("scripts/keras_from_checkpoint.py"), encoding: .utf8)
        guard case let .array(objects) = try JSONParser.parse(DigitModels.convolutional) else { return XCTFail("not a list of layers") }
        var classNames = [String: String]()
        for (index, object) in objects.enumerated() {
            let layer = try LayerSpec(json: object, path: "layers[\(index)]")
            classNames[layer.typeName] = layer.kerasClassName
        }
        let classes = script.components(separatedBy: "CLASSES = {").last?.components(separatedBy: "}").first ?? ""
        for type in LayerSpec.typeNames {
            XCTAssertNotNil(classNames[type], "\(type) is missing from DigitModels.convolutional")
            XCTAssertTrue(classes.contains(#""\#(type)": "\#(classNames[type] ?? "")""#),
                          "\(type) is missing from keras_from_checkpoint.py's CLASSES, or its Keras class differs")
        }
        // Keras' own spellings, written out: CamelCase words, a dimension keeps its capital D.
        let expected = ["dense": "Dense", "conv2d": "Conv2D", "max_pooling2d": "MaxPooling2D", "batch_normalization": "BatchNormalization",
                        "global_average_pooling2d": "GlobalAveragePooling2D", "random_flip": "RandomFlip", "reshape": "Reshape"]
        for (type, keras) in expected { XCTAssertEqual(classNames[type], keras, type) }
    }

    /// `--dry-run` of the residual recipe prints Keras' functional summary, and its totals are
    /// what Keras' `count_params()` counts for the same graph built by its functional API.
    func testFunctionalSummaryTotalsEqualKerasCountParams() throws {
        let backend = ["KERAS_BACKEND": ProcessInfo.processInfo.environment["KERAS_BACKEND"] ?? "jax"]
        guard try python(["-c", "import keras"], environment: backend).status == 0 else {
            throw XCTSkip("python3 with keras (and jax) is not installed (.ci/run installs them with pip)")
        }
        guard FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist") else {
            throw XCTSkip("/usr/share/datasets/fashion-mnist is absent; `make setup` installs it")
        }
        let dryRun = try runTool("mnist-train", ["--config", "fashion-resnet.json", "--dry-run"], in: packageRoot)
        XCTAssertEqual(dryRun.status, 0, dryRun.stderr)
        XCTAssertTrue(dryRun.stdout.contains("Connected to"), dryRun.stdout)
        XCTAssertTrue(dryRun.stdout.contains(" input (InputLayer)"), dryRun.stdout)
        let lines = dryRun.stdout.split(separator: "\n").map(String.init)
        func total(_ label: String) -> Int? {
            lines.first { $0.hasPrefix(label) }.flatMap { Int($0.dropFirst(label.count).replacingOccurrences(of: ",", with: "")) }
        }
        let script = """
            import json, sys
            sys.path.insert(0, "scripts")
            from keras_from_checkpoint import build
            model = build(json.load(open("configs/fashion-resnet.json")))
            trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
            print(json.dumps([model.count_params(), trainable]))
            """
        let keras = try python(["-c", script], environment: backend, in: packageRoot)
        XCTAssertEqual(keras.status, 0, keras.stdout)
        guard case let .array(counts)? = try? JSONParser.parse(String(keras.stdout.split(separator: "\n").last ?? "")),
              case let .number(all)? = counts.first, case let .number(trainable)? = counts.last else { return XCTFail(keras.stdout) }
        XCTAssertEqual(total("Total params: "), Int(all))
        XCTAssertEqual(total("Trainable params: "), Int(trainable))
    }

    /// A Keras model's own JSON is a config: `--dry-run` shows Keras' parameter
    /// count, it trains, and the checkpoint stores the spec it resolved to.
    func testKerasModelJSONTrainsAndItsSpecRoundTrips() throws {
        let box = try Sandbox()
        let data = try DigitModels.makeDataset(box)
        let fixture = packageRoot.appendingPathComponent("Tests/KerasFixtures/functional-residual.json").path
        let dryRun = try runTool("mnist-train", ["--config", fixture, "--data", data, "--dry-run"])
        XCTAssertEqual(dryRun.status, 0, dryRun.stderr)
        XCTAssertTrue(dryRun.stdout.contains("Total params: 1,322"), dryRun.stdout)  // Keras' count_params(), params.json
        XCTAssertTrue(dryRun.stdout.contains("Connected to"), dryRun.stdout)

        let checkpoint = box.path("keras.ckpt")
        let train = try runTool("mnist-train", ["--config", fixture, "--data", data, "--epochs", "2", "--output", checkpoint, "--threads", "1"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let stored = try Checkpoint.load(path: checkpoint).spec
        let given = try ModelSpec.load(path: fixture)
        XCTAssertEqual(stored.layers, given.layers)
        XCTAssertEqual(stored.optimizer, given.optimizer)
        XCTAssertEqual(stored.loss, given.loss)
        XCTAssertEqual(stored.labelSmoothing, given.labelSmoothing)
        XCTAssertEqual(stored.epochs, 2)
        XCTAssertEqual(try ModelSpec.parse(stored.json.serialized), stored)

        let regularized = packageRoot.appendingPathComponent("Tests/KerasFixtures/regularized.json").path
        let refused = try runTool("mnist-train", ["--config", regularized, "--data", data, "--dry-run"])
        assertFailure(refused, status: 65, "\(regularized): layers[2] (Dense): kernel_regularizer is not supported")
    }
}
