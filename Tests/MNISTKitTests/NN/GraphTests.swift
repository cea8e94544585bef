import MNISTKit
import XCTest

/// Models whose spec names inputs: every merge, branches that read one tensor
/// (its gradient is the sum of theirs), residual blocks, and the graph's errors.
extension GradientCheckTests {
    func graph(_ json: String) throws -> [LayerSpec] {
        guard case let .array(items) = try JSONParser.parse(json) else { throw XCTSkip("not an array") }
        return try items.enumerated().map { index, item in try LayerSpec(json: item, path: "layers[\(index)]") }
    }

    /// A trunk read by two branches merged again: the trunk's weights get both branches' gradients.
    func testEveryMergeOfTwoBranches() throws {
        for (merge, seed) in zip(["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"], UInt64(20)...) {
            try check(graph("""
                [{"type": "dense", "units": 5, "activation": "tanh", "name": "trunk"},
                 {"type": "dense", "units": 4, "activation": "tanh", "name": "a"},
                 {"type": "dense", "units": 4, "activation": "sigmoid", "name": "b", "inputs": ["trunk"]},
                 {"type": "\(merge)", "inputs": ["a", "b"]},
                 {"type": "dense", "units": 3, "activation": "softmax"}]
                """), loss: .categoricalCrossentropy, seed: seed, h: 1e-3)
        }
    }

    /// One output read by three layers (two branches and the merge), merges of three inputs.
    func testALayerReadByThreeOthers() throws {
        for merge in ["add", "multiply", "average", "maximum", "minimum", "concatenate"] {
            try check(graph("""
                [{"type": "dense", "units": 4, "activation": "tanh", "name": "trunk"},
                 {"type": "dense", "units": 4, "activation": "tanh", "name": "a"},
                 {"type": "dense", "units": 4, "activation": "sigmoid", "name": "b", "inputs": ["trunk"]},
                 {"type": "\(merge)", "inputs": ["b", "trunk", "a"]},
                 {"type": "dense", "units": 3, "activation": "softmax"}]
                """), loss: .categoricalCrossentropy, seed: 30, h: 1e-3)
        }
    }

    /// conv-BN-relu-conv-BN, add the block's input, relu; a stem convolution before it so the
    /// block's input gradient (two paths) is checked too. h = 1e-3 for the relus' kinks.
    func testResidualBlock() throws {
        try check(graph("""
            [{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh", "name": "stem"},
             {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "use_bias": false},
             {"type": "batch_normalization"},
             {"type": "relu"},
             {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "use_bias": false},
             {"type": "batch_normalization"},
             {"type": "add", "inputs": ["batch_normalization_2", "stem"]},
             {"type": "relu"},
             {"type": "flatten"},
             {"type": "dense", "units": 3, "activation": "softmax"}]
            """), loss: .categoricalCrossentropy, inputShape: [5, 4, 2], seed: 31, h: 1e-3)
    }

    /// Two convolution branches joined on the channels, and a concatenation along the width.
    func testTwoBranchConcatenate() throws {
        try check(graph("""
            [{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "tanh", "name": "stem"},
             {"type": "conv2d", "filters": 2, "kernel_size": 1, "activation": "sigmoid", "name": "narrow"},
             {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "tanh", "name": "wide", "inputs": ["stem"]},
             {"type": "concatenate", "inputs": ["narrow", "wide"]},
             {"type": "conv2d", "filters": 2, "kernel_size": 2, "padding": "same", "activation": "tanh"},
             {"type": "concatenate", "axis": 2, "inputs": ["conv2d_4", "narrow"], "name": "sideways"},
             {"type": "global_average_pooling2d"},
             {"type": "dense", "units": 3, "activation": "softmax"}]
            """), loss: .categoricalCrossentropy, inputShape: [5, 5, 2], seed: 32)
    }

    /// Depthwise (multipliers 1 and 2, strides, both paddings) and separable convolutions,
    /// with a trainable layer before each so their input gradients are checked too.
    func testDepthwiseAndSeparableConvolutions() throws {
        try check(graph("""
            [{"type": "conv2d", "filters": 3, "kernel_size": 1, "activation": "tanh"},
             {"type": "depthwise_conv2d", "kernel_size": 3, "padding": "same", "activation": "tanh"},
             {"type": "depthwise_conv2d", "kernel_size": [2, 3], "strides": 2, "depth_multiplier": 2, "activation": "sigmoid"},
             {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]
            """), loss: .categoricalCrossentropy, inputShape: [6, 7, 2], seed: 33)
        try check(graph("""
            [{"type": "conv2d", "filters": 3, "kernel_size": 1, "activation": "tanh"},
             {"type": "separable_conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "depth_multiplier": 2, "activation": "gelu"},
             {"type": "separable_conv2d", "filters": 2, "kernel_size": 2, "strides": 2, "use_bias": false, "activation": "tanh"},
             {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]
            """), loss: .categoricalCrossentropy, inputShape: [5, 6, 2], seed: 34)
    }

    /// Depthwise convolution against a naive loop over Keras' definition: output channel
    /// c·dm + m is input channel c convolved with kernel[:, :, c, m], zeros outside.
    func testDepthwiseAgainstANaiveLoop() throws {
        let (H, W, C, dm) = (5, 4, 2, 2)
        var spec = ModelSpec(layers: try graph("""
            [{"type": "depthwise_conv2d", "kernel_size": 3, "strides": [2, 1], "padding": "same", "depth_multiplier": 2},
             {"type": "flatten"}, {"type": "dense", "units": 2}]
            """), loss: .meanSquaredError)
        spec.inputShape = [H, W, C]
        let model = try Model(spec: spec, classCount: 2)
        var generator = RandomGenerator(seed: 41)
        for k in 0 ..< model.parameterCount { model.parameters.pointer[k] = generator.nextUnitFloat() * 2 - 1 }
        let x = (0 ..< H * W * C).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let w = model.parameters.array.map(Double.init)
        // "same" with stride 2 over 5 rows: 3 output rows, one padding row on top; 1 column each side.
        let (OH, OW, J) = (3, 4, C * dm), bias = 9 * J, dense = bias + J
        var features = [Double]()
        for oy in 0 ..< OH { for ox in 0 ..< OW { for c in 0 ..< C { for m in 0 ..< dm {
            var sum = w[bias + c * dm + m]
            for ky in 0 ..< 3 { for kx in 0 ..< 3 {
                let y = oy * 2 - 1 + ky, xx = ox - 1 + kx
                guard (0 ..< H).contains(y), (0 ..< W).contains(xx) else { continue }
                sum += Double(x[(y * W + xx) * C + c]) * w[((ky * 3 + kx) * C + c) * dm + m]
            } }
            features.append(sum)
        } } } }
        let expected = (0 ..< 2).map { j in w[dense + features.count * 2 + j] + features.indices.reduce(0.0) { $0 + features[$1] * w[dense + $1 * 2 + j] } }
        assertClose(model.predict(x), expected.map(Float.init), tolerance: 1e-5)
    }

    /// The forward of each merge against a naive loop: two linear dense branches of the
    /// input, merged, then a linear dense layer, compared with the same sums in doubles.
    func testMergesAgainstNaiveLoops() throws {
        let operations: [(String, ([Double]) -> Double)] = [
            ("add", { $0.reduce(0, +) }), ("subtract", { $0[0] - $0[1] }), ("multiply", { $0.reduce(1, *) }),
            ("average", { $0.reduce(0, +) / Double($0.count) }), ("maximum", { $0.max()! }), ("minimum", { $0.min()! }),
        ]
        let x: [Float] = [0.5, -1, 0.25, 2, -0.75, 1.5]  // two samples of 3
        for (name, operation) in operations + [("concatenate", { _ in 0 })] {
            let branches = name == "subtract" ? 2 : 3
            var layers = (0 ..< branches).map { k in #"{"type": "dense", "units": 2, "name": "b\#(k)", "inputs": ["input"]}"# }
            layers.append(#"{"type": "\#(name)", "inputs": [\#((0 ..< branches).map { "\"b\($0)\"" }.joined(separator: ", "))]}"#)
            layers.append(#"{"type": "dense", "units": 2}"#)
            var spec = ModelSpec(layers: try graph("[" + layers.joined(separator: ",") + "]"), loss: .meanSquaredError)
            spec.inputShape = [3]
            let model = try Model(spec: spec, classCount: 2)
            var generator = RandomGenerator(seed: 40)
            for k in 0 ..< model.parameterCount { model.parameters.pointer[k] = generator.nextUnitFloat() * 2 - 1 }
            let w = model.parameters.array.map(Double.init)
            var expected = [Double]()
            for sample in 0 ..< 2 {
                // Branch k: kernel (3, 2) at 8k, bias (2) after it.
                let branch = (0 ..< branches).map { k in
                    (0 ..< 2).map { j in w[8 * k + 6 + j] + (0 ..< 3).reduce(0.0) { $0 + Double(x[sample * 3 + $1]) * w[8 * k + $1 * 2 + j] } }
                }
                let merged = name == "concatenate" ? branch.flatMap { $0 } : (0 ..< 2).map { j in operation(branch.map { $0[j] }) }
                let head = 8 * branches, width = merged.count
                for j in 0 ..< 2 {
                    expected.append(w[head + width * 2 + j] + (0 ..< width).reduce(0.0) { $0 + merged[$1] * w[head + $1 * 2 + j] })
                }
            }
            assertClose(model.predict(x), expected.map(Float.init), tolerance: 1e-5, name)
        }
    }

    /// Inference keeps an output only until its last reader: a stack needs two buffers
    /// however deep, a skip connection one more while it spans its block.
    func testInferenceBuffersFollowLiveness() throws {
        func floats(_ json: String) throws -> Int {
            var spec = ModelSpec(layers: try graph(json), loss: .categoricalCrossentropy)
            spec.inputShape = [8]
            return try Model(spec: spec, classCount: 8).makeWorkspace(capacity: 1, training: false).activationFloats
        }
        let dense = #"{"type": "dense", "units": 8, "activation": "tanh"}"#
        let stack = try floats("[" + Array(repeating: dense, count: 6).joined(separator: ",") + #", {"type": "dense", "units": 8, "activation": "softmax"}]"#)
        XCTAssertEqual(stack, 8 + 2 * 8)  // the input, then two buffers taken in turn
        let residual = try floats("""
            [{"type": "dense", "units": 8, "name": "skip"}, \(dense), \(dense), \(dense),
             {"type": "add", "inputs": ["dense_4", "skip"]}, \(dense), {"type": "dense", "units": 8, "activation": "softmax"}]
            """)
        XCTAssertEqual(residual, 8 + 3 * 8)
    }

    func testGraphErrorsNameTheLayer() throws {
        func error(_ json: String, inputShape: [Int] = [4]) throws -> String {
            do {
                var spec = ModelSpec(layers: try graph(json), loss: .categoricalCrossentropy)
                spec.inputShape = inputShape
                _ = try Model(spec: spec, classCount: 3)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let head = #"{"type": "dense", "units": 3, "activation": "softmax"}"#
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "add", "inputs": ["a", "b"]}, \#(head)]"#),
                       #"layers[1].inputs[1]: unknown input "b"; did you mean "a"? expected "input" or the name of an earlier layer"#)
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 4, "name": "a"}, \#(head)]"#),
                       #"layers[1].name: "a" is already the name of layers[0]; every layer needs its own name"#)
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a", "inputs": ["b"]}, {"type": "dense", "units": 4, "name": "b"}, \#(head)]"#),
                       #"layers[0].inputs[0]: "b" depends on this layer: a cycle (a -> b -> a)"#)
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a", "inputs": ["a"]}, \#(head)]"#),
                       #"layers[0].inputs[0]: "a" is this layer itself: a cycle"#)
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 5, "name": "b", "inputs": ["input"]}, {"type": "add", "inputs": ["a", "b"]}, \#(head)]"#),
                       "layers[2].inputs: add needs inputs of one shape, but inputs[0] is (4,) and inputs[1] is (5,)")
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 5, "inputs": ["input"]}, \#(head)]"#),
                       "layers[0]: the output of a is never used; list it in a later layer's inputs (the model's output is the last layer)")
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "dense", "units": 4, "inputs": ["input", "a"]}, \#(head)]"#),
                       "layers[1].inputs: dense takes 1 input, got 2")
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "a"}, {"type": "subtract", "inputs": ["a"]}, \#(head)]"#),
                       "layers[1].inputs: subtract takes 2 inputs, got 1")
        XCTAssertEqual(try error(#"[{"type": "reshape", "target_shape": [2, 2], "name": "r"}, {"type": "concatenate", "inputs": ["r", "input"]}, {"type": "flatten"}, \#(head)]"#),
                       "layers[1].inputs: concatenate on axis -1 needs inputs that agree on every other axis, but inputs[0] is (2, 2) and inputs[1] is (4,)")
        XCTAssertEqual(try error(#"[{"type": "dense", "units": 4, "name": "input"}, \#(head)]"#),
                       #"layers[0].name: expected a name of 1 to 64 letters, digits, _ and - other than "input", got "input""#)
    }
}
