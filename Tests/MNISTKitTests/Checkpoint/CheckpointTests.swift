import Foundation
import MNISTKit
import TestFixtures
import XCTest

final class CheckpointTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func trained(_ spec: ModelSpec, data: Dataset, epochs: Int) throws -> Trainer {
        let trainer = try Trainer(spec: spec, train: data)
        while trainer.state.epochsCompleted < epochs { _ = try trainer.runEpoch() }
        return trainer
    }

    func testRoundTripKeepsEveryTensorAndTheMetadata() throws {
        let trainer = try trained(syntheticSpec(epochs: 2), data: syntheticDataset(count: 100, seed: 1), epochs: 2)
        let path = directory.appendingPathComponent("model.ckpt").path
        try Checkpoint(trainer: trainer).save(to: path)
        let loaded = try Checkpoint.load(path: path)
        XCTAssertEqual(loaded.spec, trainer.spec)
        XCTAssertEqual(loaded.state, trainer.state)
        XCTAssertEqual(loaded.dataset, "synthetic")
        XCTAssertEqual(loaded.imageShape, [4, 4, 1])
        XCTAssertEqual(loaded.classNames, (0 ..< 10).map(String.init))
        XCTAssertEqual(loaded.tensors.map(\.name), ["dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias",
                                                    "optimizer.dense_1.kernel.rms", "optimizer.dense_1.bias.rms",
                                                    "optimizer.dense_2.kernel.rms", "optimizer.dense_2.bias.rms"])
        XCTAssertEqual(loaded.tensor("dense_1.kernel")?.shape, [16, 16])
        let kernel = trainer.model.trainableVariables[0]
        XCTAssertEqual(loaded.tensor("dense_1.kernel")?.values, trainer.model.parameters.slice(kernel.offset, kernel.count))
        let (model, optimizer, _) = try loaded.restore(path: path)
        XCTAssertEqual(model.parameters.array, trainer.model.parameters.array)
        XCTAssertEqual(optimizer.slots[0].buffer.array, trainer.optimizer.slots[0].buffer.array)
        XCTAssertEqual(model.evaluate(trainer.train), trainer.model.evaluate(trainer.train))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"))
    }

    func testLayoutIsSafetensors() throws {
        let trainer = try trained(syntheticSpec(epochs: 1), data: syntheticDataset(count: 50, seed: 1), epochs: 1)
        let bytes = Checkpoint(trainer: trainer).encoded()
        let headerLength = Int(bytes[0 ..< 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        XCTAssertEqual((8 + headerLength) % 8, 0)
        let header = try JSONParser.parse(Array(bytes[8 ..< 8 + headerLength]))
        guard case let .array(offsets)? = header["dense_1.bias"]?["data_offsets"], case let .number(begin) = offsets[0] else {
            return XCTFail("no offsets")
        }
        XCTAssertEqual(header["dense_1.bias"]?["dtype"], .string("F32"))
        XCTAssertEqual(header["__metadata__"]?["format"], .string("mnist-train-checkpoint"))
        // The first bias value, read straight from the bytes as little-endian float32.
        let start = 8 + headerLength + Int(begin)
        let bits = bytes[start ..< start + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        XCTAssertEqual(Float(bitPattern: bits), trainer.model.parameters.pointer[trainer.model.trainableVariables[1].offset])
    }

    /// Four epochs straight, or two, a save, a load and two more: the same bytes.
    func testResumeIsExact() throws {
        let data = syntheticDataset(count: 130, seed: 2)
        for optimizer in [OptimizerSpec.defaults(.rmsprop), .sgd(learningRate: 0.05, momentum: 0.9, nesterov: true), .defaults(.adam)] {
            let spec = syntheticSpec(optimizer: optimizer, epochs: 4, dropout: 0.3)
            let straight = Checkpoint(trainer: try trained(spec, data: data, epochs: 4)).encoded()
            let path = directory.appendingPathComponent("half.ckpt").path
            try Checkpoint(trainer: try trained(spec, data: data, epochs: 2)).save(to: path)
            let plan = try TrainingPlan(configPath: nil, resumePath: path, epochs: 4, batchSize: nil, seed: nil)
            let resumed = try plan.makeTrainer(train: data)
            XCTAssertEqual(resumed.state.epochsCompleted, 2)
            while resumed.state.epochsCompleted < 4 { _ = try resumed.runEpoch() }
            XCTAssertEqual(Checkpoint(trainer: resumed).encoded(), straight, "\(optimizer.kind)")
            XCTAssertEqual(Checkpoint(trainer: try trained(spec, data: data, epochs: 4)).encoded(), straight, "\(optimizer.kind)")
        }
    }

    /// Each kind of damage is refused with its own message.
    func testDamagedCheckpointsAreRejected() throws {
        let trainer = try trained(syntheticSpec(epochs: 1), data: syntheticDataset(count: 50, seed: 1), epochs: 1)
        let good = Checkpoint(trainer: trainer).encoded()
        let headerLength = Int(good[0]) | Int(good[1]) << 8 | Int(good[2]) << 16
        let header = String(decoding: good[8 ..< 8 + headerLength], as: UTF8.self)

        func withHeader(_ transform: (String) -> String) -> [UInt8] {
            var text = Array(transform(header).utf8)
            while (8 + text.count) % 8 != 0 { text.append(0x20) }
            let length = UInt64(text.count)
            return (0 ..< 8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + text + Array(good[(8 + headerLength)...])
        }
        func replacing(_ pattern: String, _ replacement: String) -> [UInt8] {
            withHeader { text in
                guard let range = text.range(of: pattern, options: .regularExpression) else { XCTFail("no \(pattern)"); return text }
                return text.replacingCharacters(in: range, with: replacement)
            }
        }
        var flippedData = good; flippedData[good.count - 5] ^= 0x40
        var flippedHeader = good; flippedHeader[8] = UInt8(ascii: "#")
        var pastEnd = good; pastEnd[5] = 0x01
        let spec = try ModelSpec.parse(#"{"layers": [{"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}], "loss": "categorical_crossentropy", "input_shape": [4, 4]}"#)

        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "truncated: 0 bytes, too short for a safetensors file"),
            ("truncated", Array(good.dropLast(100)), "run past the end of the data"),
            ("header length past end", pastEnd, "runs past the end of the file"),
            ("flipped data byte", flippedData, "CRC-32 mismatch"),
            ("flipped header byte", flippedHeader, "damaged header: invalid JSON"),
            ("overlapping offsets", replacing(#""dense_1\.bias":\{"dtype":"F32","shape":\[16\],"data_offsets":\[\d+,\d+\]"#,
                                              #""dense_1.bias":{"dtype":"F32","shape":[16],"data_offsets":[0,64]"#), "overlaps another tensor"),
            ("size does not match shape", replacing(#""shape":\[16,16\]"#, #""shape":[16,15]"#), "needs 960"),
            ("missing tensor", replacing(#","optimizer\.dense_2\.bias\.rms":\{[^}]*\}"#, ""), "bytes that belong to no tensor"),
            ("wrong dtype", replacing(#""dense_2\.bias":\{"dtype":"F32""#, #""dense_2.bias":{"dtype":"F16""#), "but F16 (10,) needs 20"),
            ("unknown dtype", replacing(#""dense_2\.bias":\{"dtype":"F32""#, #""dense_2.bias":{"dtype":"I64""#), #"dtype "I64", expected one of "F32", "F16", "BF16""#),
            ("newer version", replacing(#""format_version":"1""#, #""format_version":"2""#), "format version 2 is newer than this version of MNISTKit (\(toolVersion)) reads (up to 1)"),
            ("another format", replacing(#""format":"mnist-train-checkpoint""#, #""format":"pytorch""#), "not an mnist-train checkpoint (format \"pytorch\")"),
            ("not a checkpoint", Array("just some text, not a checkpoint".utf8), "runs past the end of the file"),
            ("damaged state", replacing(#""epochs_completed\\":1"#, #""epochs_completed\":-1"#), "metadata state is missing or damaged"),
        ]
        for (name, bytes, message) in cases {
            XCTAssertThrowsError(try Checkpoint.decode(bytes, path: "x.ckpt"), name) {
                XCTAssertTrue("\($0)".hasPrefix("x.ckpt: "), "\(name): \($0)")
                XCTAssertTrue("\($0)".contains(message), "\(name): \($0) lacks \(message)")
            }
        }

        // Tensors that do not fit the spec's layers: checked on restore.
        let needsMore = try Checkpoint.decode(Checkpoint(trainer: trainer).encoded(), path: "x.ckpt")
        XCTAssertThrowsError(try needsMore.withSpec(spec).restore(path: "x.ckpt")) {
            XCTAssertEqual("\($0)", "x.ckpt: tensor dense_1.kernel has shape (16, 16), but the spec's layer needs (16, 10)")
        }
        var deeper = trainer.spec
        deeper.layers.insert(.dense(units: 16, activation: .relu, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros), at: 2)
        XCTAssertThrowsError(try needsMore.withSpec(deeper).restore(path: "x.ckpt")) {
            XCTAssertEqual("\($0)", "x.ckpt: tensor dense_2.kernel has shape (16, 10), but the spec's layer needs (16, 16)")
        }
        var noBias = trainer.spec
        noBias.layers[3] = .dense(units: 10, activation: .softmax, useBias: false, kernelInitializer: .glorotUniform, biasInitializer: .zeros)
        XCTAssertThrowsError(try needsMore.withSpec(noBias).restore(path: "x.ckpt")) {
            XCTAssertEqual("\($0)", "x.ckpt: unexpected tensor dense_2.bias, which the spec's layers do not have")
        }
    }

    /// A checkpoint written before checkpoints recorded the data's identity
    /// (no class names, image shape, folder or digest) still loads and restores.
    func testAnOlderCheckpointStillLoads() throws {
        let path = packageRoot.appendingPathComponent("Tests/Fuzz/corpus/checkpoint/tiny.ckpt").path
        let old = try Checkpoint.load(path: path)
        XCTAssertEqual(old.dataset, "synthetic")
        XCTAssertNil(old.datasetFolder)
        XCTAssertNil(old.datasetSHA256)
        XCTAssertNil(old.classNames)
        XCTAssertEqual(old.step, 4)
        XCTAssertEqual(old.datasetLookupNames, ["synthetic"])
        let (model, optimizer, state) = try old.restore(path: path)
        XCTAssertEqual(optimizer.step, 4)
        XCTAssertEqual(state.epochsCompleted, 1)
        XCTAssertGreaterThan(model.parameterCount, 0)
    }

    func testMissingFileIsReportedAsSuch() {
        XCTAssertThrowsError(try Checkpoint.load(path: directory.appendingPathComponent("absent.ckpt").path)) {
            XCTAssertTrue(($0 as? CheckpointError)?.isMissingFile ?? false)
            XCTAssertTrue("\($0)".hasSuffix("absent.ckpt: no such file"))
        }
    }

    func testWriteFailureKeepsThePreviousFile() throws {
        let trainer = try trained(syntheticSpec(epochs: 1), data: syntheticDataset(count: 50, seed: 1), epochs: 1)
        XCTAssertThrowsError(try Checkpoint(trainer: trainer).save(to: directory.appendingPathComponent("no/such/dir/model.ckpt").path)) {
            XCTAssertTrue("\($0)".contains("cannot write checkpoint: No such file or directory"), "\($0)")
        }
    }

    /// Python's safetensors reads every tensor with the same values.
    func testPythonSafetensorsReadsTheCheckpoint() throws {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import safetensors.numpy, numpy"]
        probe.standardError = FileHandle.nullDevice
        try? probe.run()
        probe.waitUntilExit()
        guard probe.terminationReason == .exit, probe.terminationStatus == 0 else {
            throw XCTSkip("python3 with the safetensors and numpy packages is not installed (.ci/run installs them with pip)")
        }
        let trainer = try trained(syntheticSpec(epochs: 1), data: syntheticDataset(count: 50, seed: 1), epochs: 1)
        let path = directory.appendingPathComponent("model.ckpt").path
        try Checkpoint(trainer: trainer).save(to: path)
        let script = """
            import sys, json
            from safetensors.numpy import load_file
            from safetensors import safe_open
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as f:
                metadata = f.metadata()
            print(json.dumps({"shapes": {k: list(v.shape) for k, v in tensors.items()},
                              "kernel": [float(x) for x in tensors["dense_1.kernel"][0, :3]],
                              "bias_sum": float(tensors["dense_2.bias"].astype("float64").sum()),
                              "format": metadata["format"]}))
            """
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let result = try JSONParser.parse(Array(data))
        XCTAssertEqual(result["format"], .string("mnist-train-checkpoint"))
        XCTAssertEqual(result["shapes"]?["dense_1.kernel"], .array([.number(16), .number(16)]))
        XCTAssertEqual(result["shapes"]?["optimizer.dense_2.bias.rms"], .array([.number(10)]))
        let kernel = trainer.model.parameters.slice(trainer.model.trainableVariables[0].offset, 3)
        XCTAssertEqual(result["kernel"], .array(kernel.map { .number(Double($0)) }))
        let biasSlot = trainer.model.trainableVariables[3]
        let biasSum = trainer.model.parameters.slice(biasSlot.offset, biasSlot.count).reduce(0.0) { $0 + Double($1) }
        guard case let .number(pythonSum)? = result["bias_sum"] else { return XCTFail("no bias_sum") }
        XCTAssertEqual(pythonSum, biasSum, accuracy: 1e-12)
    }
}

extension Checkpoint {
    /// The same tensors under another spec (to test the tensor-versus-layer checks).
    func withSpec(_ spec: ModelSpec) -> Checkpoint {
        Checkpoint(spec: spec, state: state, dataset: dataset, toolVersion: toolVersion, tensors: tensors)
    }
}
