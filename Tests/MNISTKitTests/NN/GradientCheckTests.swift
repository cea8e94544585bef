import MNISTKit
import XCTest

/// Compares every analytic gradient with central finite differences of the loss.
///
/// The layers compute in Float. With h = 1e-2 the Float rounding of a loss near 1
/// (about 1e-7 relative, summed over a few rows) contributes about 1e-5 to a
/// difference quotient, and the O(h²) truncation about 1e-4 for these smooth
/// functions; hence |numeric - analytic| <= 1e-3 + 2e-2 |analytic|. A wrong
/// backward pass (a missing term, a transposed product) is off by far more.
final class GradientCheckTests: XCTestCase {
    func check(_ layers: [LayerSpec], loss: LossKind, inputShape: [Int] = [6], classCount: Int = 3, seed: UInt64 = 1,
               h: Float = 1e-2, labelSmoothing: Double = 0, file: StaticString = #filePath, line: UInt = #line) throws {
        var spec = ModelSpec(layers: layers, loss: loss)
        spec.inputShape = inputShape
        spec.labelSmoothing = labelSmoothing
        let model = try Model(spec: spec, classCount: classCount)
        var generator = RandomGenerator(seed: seed)
        model.initializeParameters(generator: &generator)
        // Biases start at zero; make them non-zero so their gradients are exercised honestly.
        for k in 0 ..< model.parameterCount { model.parameters.pointer[k] += (generator.nextUnitFloat() - 0.5) * 0.2 }
        let B = 4
        let inputs = (0 ..< B * model.inputWidth).map { _ in generator.nextUnitFloat() }
        let labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: classCount)) }
        let workspace = model.makeWorkspace(capacity: B, training: true)
        model.load(workspace, inputs: inputs, labels: labels)
        let dropoutStart = RandomGenerator(seed: 99)

        func lossValue() -> Double {
            var dropout = dropoutStart // the same masks for every evaluation
            return model.lossAndGradients(workspace, B: B, dropout: &dropout).lossSum / Double(B)
        }
        _ = lossValue()
        let analytic = model.parameterGradients.array
        var worst: Float = 0
        for k in 0 ..< model.parameterCount {
            let saved = model.parameters.pointer[k]
            model.parameters.pointer[k] = saved + h
            let plus = lossValue()
            model.parameters.pointer[k] = saved - h
            let minus = lossValue()
            model.parameters.pointer[k] = saved
            let numeric = Float((plus - minus) / Double(2 * h))
            let error = abs(numeric - analytic[k])
            worst = max(worst, error)
            XCTAssertLessThanOrEqual(error, 1e-3 + 2e-2 * abs(analytic[k]),
                                     "parameter \(k): numeric \(numeric), analytic \(analytic[k])", file: file, line: line)
        }
        XCTAssertTrue(analytic.contains { abs($0) > 1e-3 }, "gradients are all near zero", file: file, line: line)
        print("gradient check \(layers.map(\.typeName)) \(loss.rawValue): largest difference \(worst)")
    }

    func dense(_ units: Int, _ activation: Activation) -> LayerSpec {
        .dense(units: units, activation: activation, useBias: true, kernelInitializer: .glorotUniform, biasInitializer: .zeros)
    }

    func testFusedSoftmaxCrossEntropy() throws {
        try check([dense(5, .tanh), dense(3, .softmax)], loss: .categoricalCrossentropy)
        try check([dense(5, .sigmoid), dense(3, .softmax)], loss: .sparseCategoricalCrossentropy)
    }

    /// Keras' label_smoothing, with softmax fused into the loss and on
    /// probabilities from a sigmoid (normalised, clipped).
    func testLabelSmoothing() throws {
        try check([dense(5, .tanh), dense(3, .softmax)], loss: .categoricalCrossentropy, labelSmoothing: 0.2)
        try check([dense(5, .tanh), dense(3, .sigmoid)], loss: .categoricalCrossentropy, seed: 3, labelSmoothing: 0.2)
    }

    /// The smoothed loss itself, against -Σ t log p worked in Double: a dense
    /// layer with zero kernel outputs softmax(bias) for every input.
    func testLabelSmoothingLossValue() throws {
        for activation in [Activation.softmax, .sigmoid] {
            var spec = ModelSpec(layers: [dense(3, activation)], loss: .categoricalCrossentropy)
            spec.inputShape = [2]
            spec.labelSmoothing = 0.3
            let model = try Model(spec: spec, classCount: 3)
            let bias: [Double] = [0.5, -1, 2]
            model.parameters.assign([0, 0, 0, 0, 0, 0] + bias.map(Float.init))
            let workspace = model.makeWorkspace(capacity: 1, training: true)
            model.load(workspace, inputs: [0.3, 0.7], labels: [1])
            var dropout = RandomGenerator(seed: 1)
            let loss = model.lossAndGradients(workspace, B: 1, dropout: &dropout).lossSum
            let raw = activation == .softmax ? bias.map { exp($0) } : bias.map { 1 / (1 + exp(-$0)) }
            let p = raw.map { $0 / raw.reduce(0, +) }
            let t = [0.1, 0.8, 0.1]  // (1 - 0.3)·onehot + 0.3/3
            XCTAssertEqual(loss, -zip(t, p).map { $0 * log($1) }.reduce(0, +), accuracy: 1e-5, "\(activation)")
        }
    }

    func testReluDenseWithFlatten() throws {
        try check([.flatten, dense(7, .relu), dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [2, 3], seed: 4)
    }

    /// 20 and 18 units: the 16-wide vector kernels (bias and relu, their
    /// backward, bias gradients) and their scalar tails both run.
    func testLayersWiderThanOneVector() throws {
        try check([dense(20, .relu), dense(18, .tanh), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 5)
    }

    func testStandaloneActivationsAndSoftmaxLayer() throws {
        try check([dense(5, .linear), .activation(.tanh), dense(4, .linear), .activation(.sigmoid), dense(3, .linear), .activation(.softmax)],
                  loss: .categoricalCrossentropy)
    }

    func testCrossEntropyOnSigmoidOutputsIsNotFused() throws {
        try check([dense(5, .tanh), dense(3, .sigmoid)], loss: .categoricalCrossentropy)
    }

    func testSoftmaxJacobianWithMeanSquaredError() throws {
        try check([dense(5, .tanh), dense(3, .softmax)], loss: .meanSquaredError)
        try check([dense(5, .sigmoid), dense(3, .linear)], loss: .meanSquaredError)
    }

    func testDropoutPassesGradientThroughItsMask() throws {
        try check([dense(8, .tanh), .dropout(rate: 0.3), dense(3, .softmax)], loss: .categoricalCrossentropy)
        try check([dense(8, .tanh), .dropout(rate: 0), dense(3, .softmax)], loss: .categoricalCrossentropy)
    }

    func testDenseWithoutBias() throws {
        try check([.dense(units: 5, activation: .tanh, useBias: false, kernelInitializer: .heUniform, biasInitializer: .zeros),
                   dense(3, .softmax)], loss: .categoricalCrossentropy)
    }

    /// A hand-worked example: one sample, logits (1, 2, 3), label 0.
    func testFusedLossAgainstHandComputedValues() throws {
        var spec = ModelSpec(layers: [.dense(units: 3, activation: .softmax, useBias: true, kernelInitializer: .zeros, biasInitializer: .zeros)],
                             loss: .categoricalCrossentropy)
        spec.inputShape = [1]
        let model = try Model(spec: spec, classCount: 3)
        model.parameters.assign([0, 0, 0, 1, 2, 3]) // kernel (1, 3) zero, bias = logits
        let workspace = model.makeWorkspace(capacity: 1, training: true)
        model.load(workspace, inputs: [0.5], labels: [0])
        var generator = RandomGenerator(seed: 1)
        let score = model.lossAndGradients(workspace, B: 1, dropout: &generator)
        // p = softmax(1, 2, 3) = (0.090031, 0.244728, 0.665241); loss = -log 0.090031 = 2.407606.
        XCTAssertEqual(score.lossSum, 2.407606, accuracy: 1e-5)
        XCTAssertEqual(score.correct, 0)
        // d bias = p - onehot; d kernel = x (p - onehot).
        assertClose(model.parameterGradients.slice(3, 3), [0.090031 - 1, 0.244728, 0.665241], tolerance: 1e-5)
        assertClose(model.parameterGradients.slice(0, 3), [(0.090031 - 1) * 0.5, 0.244728 * 0.5, 0.665241 * 0.5], tolerance: 1e-5)
    }

    func testShapesAreCheckedWhenTheModelIsBuilt() {
        var spec = ModelSpec(layers: [dense(10, .softmax)], loss: .categoricalCrossentropy)
        XCTAssertThrowsError(try Model(spec: spec)) {
            XCTAssertEqual("\($0)", "layers[0]: dense expects a flat input but receives (28, 28); add {\"type\": \"flatten\"} before it")
        }
        spec.layers = [.flatten, dense(12, .softmax)]
        XCTAssertThrowsError(try Model(spec: spec)) {
            XCTAssertEqual("\($0)", "layers[1]: the model outputs (12,) per sample, but the dataset has 10 classes; the last layer needs 10 units")
        }
        spec.layers = [.flatten, dense(10, .relu)]
        XCTAssertThrowsError(try Model(spec: spec)) {
            XCTAssertEqual("\($0)", "layers[1]: categorical_crossentropy needs probabilities, but the last layer's activation is relu; use softmax (or sigmoid)")
        }
        spec.layers = [.flatten, dense(512, .relu), dense(10, .softmax)]
        XCTAssertEqual(try Model(spec: spec).parameterCount, 407_050)
    }

    // Convolutional layers. Inputs (H, W, C) with odd sizes and several
    // channels; a trainable layer before each image layer, so its input
    // gradient (col2im, the pooling scatter, batch norm's dx) is checked too.

    func layer(_ json: String) throws -> LayerSpec { try LayerSpec.parse(json) }

    func testConv2DBothPaddingsAndStrides() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "activation": "tanh"}"#),
                   try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": [2, 3], "strides": 2, "padding": "same", "activation": "sigmoid"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [7, 6, 2], seed: 2)
        try check([try layer(#"{"type": "conv2d", "filters": 2, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same"}"#),
                   try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "use_bias": false, "activation": "tanh"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [5, 5], seed: 3)
    }

    /// Stride-1 3x3 convolutions over 8+ channels whose tiles fit run Winograd
    /// F(4x4, 3x3): the second layer's forward and kernel gradient (its input
    /// gradient, 10x10 from 4x4 tiles, goes through col2im), the third's in all
    /// three passes (8x8 both ways).
    func testWinogradConvolutions() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 1, "activation": "tanh"}"#),
                   try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "sigmoid"}"#),
                   try layer(#"{"type": "conv2d", "filters": 9, "kernel_size": 3, "padding": "same", "activation": "relu"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [10, 10, 9], seed: 6, h: 1e-3)
    }

    /// h = 1e-3: relu and max pooling are piecewise linear, and a larger step
    /// crosses their kinks.
    func testConv2DWithReluAndMaxPooling() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}"#),
                   try layer(#"{"type": "max_pooling2d"}"#),
                   try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "tanh"}"#),
                   try layer(#"{"type": "max_pooling2d", "pool_size": 2, "strides": 1, "padding": "same"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [7, 7, 1], seed: 4, h: 1e-3)
    }

    func testAveragePoolingAndGlobalAveragePooling() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "tanh"}"#),
                   try layer(#"{"type": "average_pooling2d", "pool_size": 3, "strides": 2, "padding": "same"}"#),
                   try layer(#"{"type": "conv2d", "filters": 5, "kernel_size": 1, "activation": "sigmoid"}"#),
                   try layer(#"{"type": "global_average_pooling2d"}"#),
                   dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [8, 7, 2], seed: 5)
    }

    /// h = 1e-3: both have a kink at zero (the inputs are drawn away from it).
    func testLeakyReluAndElu() throws {
        try check([dense(6, .leakyRelu), dense(5, .elu), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 3, h: 1e-3)
        try check([dense(6, .linear), .activation(.elu), dense(5, .linear), .activation(.leakyRelu), dense(3, .softmax)],
                  loss: .categoricalCrossentropy, seed: 4, h: 1e-3)
        // Deferred: the pool applies the convolution's activation gradient.
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "elu"}"#),
                   try layer(#"{"type": "max_pooling2d"}"#), .flatten, dense(3, .softmax)],
                  loss: .categoricalCrossentropy, inputShape: [5, 5, 2], seed: 5, h: 1e-3)
    }

    /// Through each row's own mean and variance, after dense rows and after a convolution.
    func testLayerNormalization() throws {
        try check([dense(6, .tanh), try layer(#"{"type": "layer_normalization"}"#), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 7)
        try check([try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 2, "activation": "elu"}"#),
                   try layer(#"{"type": "layer_normalization", "epsilon": 0.01, "center": false}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [4, 4, 2], seed: 8, h: 1e-3)
        try check([dense(5, .linear), try layer(#"{"type": "layer_normalization", "scale": false}"#), .activation(.sigmoid), dense(3, .softmax)],
                  loss: .categoricalCrossentropy, seed: 9)
    }

    /// Activations whose gradients need their inputs: kept by dense, conv2d and the activation layer.
    func testGeluAndSilu() throws {
        try check([dense(6, .gelu), dense(5, .silu), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 10)
        try check([dense(6, .linear), .activation(.gelu), dense(5, .linear), .activation(.swish), dense(3, .softmax)],
                  loss: .categoricalCrossentropy, seed: 11)
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "gelu"}"#),
                   try layer(#"{"type": "max_pooling2d"}"#),
                   try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 2, "activation": "silu"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [6, 6, 2], seed: 12, h: 1e-3)
        // One channel: the direct loops.
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "activation": "gelu"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [5, 5, 1], seed: 13, h: 1e-3)
    }

    func testZeroPaddingAndGlobalMaxPooling() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "tanh"}"#),
                   try layer(#"{"type": "zero_padding2d", "padding": [[1, 0], [2, 1]]}"#),
                   try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "leaky_relu"}"#),
                   try layer(#"{"type": "global_max_pooling2d"}"#),
                   dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [5, 6, 2], seed: 6, h: 1e-3)
    }

    /// Ties share global max pooling's gradient equally (TensorFlow's gradient of reduce_max):
    /// a 1x1 convolution summing two channels ties at two positions, (2, 1) and (1, 2), so each
    /// kernel weight's gradient is (2 + 1)·g/2; g to the first alone gives 2g and g, g to both 3g.
    func testGlobalMaxPoolingSharesTheGradientAmongTies() throws {
        var spec = ModelSpec(layers: [try layer(#"{"type": "conv2d", "filters": 1, "kernel_size": 1, "use_bias": false}"#),
                                      try layer(#"{"type": "global_max_pooling2d"}"#), dense(2, .softmax)], loss: .categoricalCrossentropy)
        spec.inputShape = [2, 2, 2]
        let model = try Model(spec: spec, classCount: 2)
        var generator = RandomGenerator(seed: 1)
        model.initializeParameters(generator: &generator)
        model.parameters.pointer[0] = 1
        model.parameters.pointer[1] = 1
        let workspace = model.makeWorkspace(capacity: 1, training: true)
        model.load(workspace, inputs: [2, 1, 0, 0.5, 1, 2, 0.25, 0.25], labels: [0])
        var dropout = RandomGenerator(seed: 2)
        _ = model.lossAndGradients(workspace, B: 1, dropout: &dropout)
        // Parameters: the convolution's kernel (2), the dense kernel (1 x 2), its bias (2). The
        // pool's output gradient is Σ_j kernel_j · dbias_j (dbias is the dense layer's dz).
        let w = model.parameters.pointer, g = model.parameterGradients.pointer
        let poolGradient = w[2] * g[4] + w[3] * g[5]
        XCTAssertGreaterThan(abs(poolGradient), 1e-3)
        XCTAssertEqual(g[0], 1.5 * poolGradient, accuracy: 1e-5 * abs(poolGradient))
        XCTAssertEqual(g[1], 1.5 * poolGradient, accuracy: 1e-5 * abs(poolGradient))
    }

    /// Batch norm in training mode: the gradient flows through the batch's
    /// mean and variance too. (Max pooling is a kink where two values of a
    /// window meet; seed 6 puts one within reach of h in channel 2, so 12.)
    func testBatchNormalizationAfterConvAndDense() throws {
        try check([try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": false}"#),
                   try layer(#"{"type": "batch_normalization"}"#), .activation(.tanh),
                   try layer(#"{"type": "max_pooling2d", "padding": "same"}"#),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [6, 5, 2], seed: 12, h: 1e-3)
        // Batch normalization then a relu layer: the batch normalization applies the relu (fused).
        try check([try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": false}"#),
                   try layer(#"{"type": "batch_normalization"}"#), .activation(.relu),
                   .flatten, dense(3, .softmax)], loss: .categoricalCrossentropy, inputShape: [6, 5, 2], seed: 13, h: 1e-3)
        try check([dense(6, .linear), try layer(#"{"type": "batch_normalization", "momentum": 0.5, "epsilon": 0.01}"#),
                   .activation(.sigmoid), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 7)
        try check([dense(5, .tanh), try layer(#"{"type": "batch_normalization", "center": false}"#),
                   dense(4, .tanh), try layer(#"{"type": "batch_normalization", "scale": false}"#),
                   dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 8)
    }

    func testReshapeIntoConvolution() throws {
        try check([dense(12, .tanh), try layer(#"{"type": "reshape", "target_shape": [3, 2, 2]}"#),
                   try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 2, "activation": "tanh"}"#), .flatten,
                   try layer(#"{"type": "dropout", "rate": 0.25}"#), dense(3, .softmax)], loss: .categoricalCrossentropy, seed: 9)
    }

}
