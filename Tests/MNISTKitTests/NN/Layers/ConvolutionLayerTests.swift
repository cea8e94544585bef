import Foundation
import MNISTKit
import XCTest

/// Every image layer's forward pass against a direct loop written here, from
/// Keras' definitions (channels_last; "same" pads ceil(size / stride) outputs,
/// the extra row or column at the bottom and right).
final class ConvolutionLayerTests: XCTestCase {
    func layer(_ json: String) throws -> LayerSpec { try LayerSpec.parse(json) }

    /// A model whose output is the layers' output, flattened (mean squared error
    /// needs no probabilities), with every parameter drawn at random.
    func model(_ layers: [LayerSpec], input: [Int], seed: UInt64 = 1) throws -> Model {
        var spec = ModelSpec(layers: layers + [.flatten], loss: .meanSquaredError)
        spec.inputShape = input
        var probe = spec
        probe.layers = layers + [.flatten, .dense(units: 1)]
        let outputs = try Model(spec: probe, classCount: 1).summary.dropLast().last!.outputShape[0]
        let model = try Model(spec: spec, classCount: outputs)
        var generator = RandomGenerator(seed: seed)
        for k in 0 ..< model.parameterCount { model.parameters.pointer[k] = generator.nextUnitFloat() * 2 - 1 }
        return model
    }

    func randomInputs(_ count: Int, seed: UInt64 = 7) -> [Float] {
        var generator = RandomGenerator(seed: seed)
        return (0 ..< count).map { _ in generator.nextUnitFloat() }
    }

    /// Output size and the padding before, as Keras computes them.
    func geometry(_ size: Int, _ k: Int, _ s: Int, same: Bool) -> (count: Int, before: Int) {
        same ? ((size + s - 1) / s, max(((size + s - 1) / s - 1) * s + k - size, 0) / 2) : ((size - k) / s + 1, 0)
    }

    func naiveConvolution(_ input: [Float], B: Int, H: Int, W: Int, C: Int, kernel: [Float], bias: [Float]?, kh: Int, kw: Int, O: Int,
                          sy: Int, sx: Int, same: Bool, activation: (Float) -> Float = { $0 }) -> [Float] {
        let (OH, top) = geometry(H, kh, sy, same: same), (OW, left) = geometry(W, kw, sx, same: same)
        var out = [Float]()
        for b in 0 ..< B { for oy in 0 ..< OH { for ox in 0 ..< OW { for o in 0 ..< O {
            var sum: Float = bias?[o] ?? 0
            for ky in 0 ..< kh { for kx in 0 ..< kw { for c in 0 ..< C {
                let y = oy * sy + ky - top, x = ox * sx + kx - left
                guard y >= 0, y < H, x >= 0, x < W else { continue }
                sum += input[((b * H + y) * W + x) * C + c] * kernel[((ky * kw + kx) * C + c) * O + o]
            } } }
            out.append(activation(sum))
        } } } }
        return out
    }

    func testConv2DMatchesADirectLoop() throws {
        // (input, filters, kernel, strides, padding, activation)
        let cases: [([Int], Int, [Int], [Int], String, String)] = [
            ([5, 6, 2], 3, [3, 2], [1, 1], "valid", "linear"),
            ([7, 5, 3], 4, [3, 3], [2, 2], "same", "relu"),
            ([6, 6], 2, [3, 3], [1, 1], "same", "tanh"), // (H, W): one channel
            ([9, 7, 1], 5, [5, 4], [2, 3], "valid", "linear"),
            ([4, 4, 2], 3, [1, 1], [1, 1], "valid", "sigmoid"),
            ([8, 8, 3], 2, [4, 4], [3, 2], "same", "linear"),
            // Stride-1 3x3 over 8+ channels whose 4x4 tiles cover the output with at most 20% to spare:
            // Winograd F(4x4, 3x3); 17 and 9 channels (a vector and a tail), exact and partial edge tiles.
            ([10, 10, 17], 9, [3, 3], [1, 1], "valid", "relu"),
            ([8, 12, 8], 20, [3, 3], [1, 1], "same", "linear"),
            ([13, 13, 9], 8, [3, 3], [1, 1], "valid", "sigmoid"),
            // Winograd F(2x2, 3x3), where 4x4 tiles would cover 12x12 for a 10x10 output.
            ([12, 12, 16], 9, [3, 3], [1, 1], "valid", "relu"),
            // Whole vectors of channels in and out: edge tiles through zero-padded copies (F(4x4) on
            // 13x13, "valid"; F(2x2) on 10x10, "same").
            ([13, 13, 16], 16, [3, 3], [1, 1], "valid", "relu"),
            ([10, 10, 16], 32, [3, 3], [1, 1], "same", "linear"),
            // One channel: direct loops, four positions at a time inside, checked at the edges;
            // 20 filters are a vector and a tail.
            ([28, 28, 1], 16, [5, 5], [1, 1], "valid", "relu"),
            ([11, 13, 1], 20, [3, 3], [1, 1], "same", "relu"),
            ([14, 15, 1], 3, [3, 5], [2, 1], "same", "sigmoid"),
        ]
        for (input, filters, kernelSize, strides, padding, activation) in cases {
            let conv = try layer(#"{"type": "conv2d", "filters": \#(filters), "kernel_size": \#(kernelSize), "strides": \#(strides), "padding": "\#(padding)", "activation": "\#(activation)"}"#)
            let model = try model([conv], input: input)
            let (H, W, C) = (input[0], input[1], input.count == 3 ? input[2] : 1)
            let B = 3
            let x = randomInputs(B * H * W * C)
            let kernelCount = kernelSize[0] * kernelSize[1] * C * filters
            let kernel = model.parameters.slice(0, kernelCount), bias = model.parameters.slice(kernelCount, filters)
            let f: (Float) -> Float = ["relu": { max($0, 0) }, "tanh": { tanh($0) }, "sigmoid": { 1 / (1 + exp(-$0)) }][activation] ?? { $0 }
            let expected = naiveConvolution(x, B: B, H: H, W: W, C: C, kernel: kernel, bias: bias, kh: kernelSize[0], kw: kernelSize[1],
                                            O: filters, sy: strides[0], sx: strides[1], same: padding == "same", activation: f)
            // Winograd rounds differently from a direct sum: 5e-5 relative, against 1e-5. Its tiles,
            // 4x4 or else 2x2, may cover the output with at most 20% to spare.
            let (OH, OW) = (padding == "same" ? H : H - 2, padding == "same" ? W : W - 2)
            let fits = { (m: Int) in ((OH + m - 1) / m) * ((OW + m - 1) / m) * m * m * 5 <= OH * OW * 6 }
            let winograd = kernelSize == [3, 3] && strides == [1, 1] && C >= 8 && filters >= 8 && (fits(4) || fits(2))
            assertClose(model.predict(x), expected, tolerance: winograd ? 5e-5 : 1e-5, "\(input) \(kernelSize) \(strides) \(padding)")
            // Two threads take images in halves and agree: exactly through im2col; through Winograd
            // within rounding, as OpenBLAS rounds a product's rows by how many rows it has.
            let one = model.predict(x), two = model.predict(x, workers: WorkerPool(count: 2))
            if winograd { assertClose(two, one, tolerance: 5e-5) } else { XCTAssertEqual(two, one) }
            XCTAssertEqual(model.predict(x, workers: WorkerPool(count: 2)), two, "the same thread count gives the same bits")
        }
    }

    /// A step's gradients against direct loops: a 1x1 convolution (so the second
    /// layer's input gradient is needed), then the layer under test, both linear,
    /// under mean squared error, whose output gradient is 2 (y - onehot) / (B·outputs).
    /// The loops give the second layer's kernel and bias gradients, its input
    /// gradient, and from that the first layer's kernel gradient. Cases: Winograd
    /// F(4x4) forward and kernel gradient with an F(2x2) input gradient (10x10;
    /// 13x13 with partial edge tiles), F(2x2) forward and kernel gradient with an
    /// F(4x4) input gradient (12x12), the 13x13 case again with whole vectors of
    /// 16 channels (edge tiles through zero-padded copies in all three passes),
    /// F(4x4) in all three passes (8x8 "same"), and im2col (stride 2, "same").
    /// One thread and two (partial sums added in order).
    func testConv2DGradientsMatchADirectLoop() throws {
        // (input, filters, strides, padding, Winograd)
        let cases: [([Int], Int, Int, String, Bool)] = [
            ([10, 10, 9], 8, 1, "valid", true), ([13, 13, 8], 10, 1, "valid", true), ([12, 12, 9], 8, 1, "valid", true),
            ([13, 13, 16], 16, 1, "valid", true),
            ([8, 8, 9], 9, 1, "same", true), ([7, 5, 3], 4, 2, "same", false),
        ]
        for (input, O, stride, padding, winograd) in cases {
            let (H, W, C, Cin, B) = (input[0], input[1], input[2], 2, 5)
            let first = try layer(#"{"type": "conv2d", "filters": \#(C), "kernel_size": 1}"#)
            let second = try layer(#"{"type": "conv2d", "filters": \#(O), "kernel_size": 3, "strides": \#(stride), "padding": "\#(padding)"}"#)
            let model = try model([first, second], input: [H, W, Cin])
            let p = model.parameters.array
            let (k1, b1) = (Array(p[0 ..< Cin * C]), Array(p[Cin * C ..< Cin * C + C]))
            let k2Start = Cin * C + C, k2 = Array(p[k2Start ..< k2Start + 9 * C * O])
            let b2 = Array(p[k2Start + 9 * C * O ..< k2Start + 9 * C * O + O])
            let x = randomInputs(B * H * W * Cin)
            let (OH, top) = geometry(H, 3, stride, same: padding == "same"), (OW, left) = geometry(W, 3, stride, same: padding == "same")
            let outputs = OH * OW * O
            var generator = RandomGenerator(seed: 3)
            let labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: outputs)) }
            // Forward and backward by direct loops.
            let h = naiveConvolution(x, B: B, H: H, W: W, C: Cin, kernel: k1, bias: b1, kh: 1, kw: 1, O: C, sy: 1, sx: 1, same: false)
            let y = naiveConvolution(h, B: B, H: H, W: W, C: C, kernel: k2, bias: b2, kh: 3, kw: 3, O: O, sy: stride, sx: stride, same: padding == "same")
            var dy = y
            for b in 0 ..< B { for i in 0 ..< outputs { dy[b * outputs + i] = 2 * (y[b * outputs + i] - (Int32(i) == labels[b] ? 1 : 0)) / Float(B * outputs) } }
            var dk2 = [Float](repeating: 0, count: 9 * C * O), db2 = [Float](repeating: 0, count: O)
            var dh = [Float](repeating: 0, count: B * H * W * C)
            for b in 0 ..< B { for oy in 0 ..< OH { for ox in 0 ..< OW { for o in 0 ..< O {
                let g = dy[((b * OH + oy) * OW + ox) * O + o]
                db2[o] += g
                for ky in 0 ..< 3 { for kx in 0 ..< 3 { for c in 0 ..< C {
                    let yy = oy * stride + ky - top, xx = ox * stride + kx - left
                    guard yy >= 0, yy < H, xx >= 0, xx < W else { continue }
                    dk2[((ky * 3 + kx) * C + c) * O + o] += g * h[((b * H + yy) * W + xx) * C + c]
                    dh[((b * H + yy) * W + xx) * C + c] += g * k2[((ky * 3 + kx) * C + c) * O + o]
                } } }
            } } } }
            var dk1 = [Float](repeating: 0, count: Cin * C), db1 = [Float](repeating: 0, count: C)
            for pixel in 0 ..< B * H * W { for c in 0 ..< C {
                db1[c] += dh[pixel * C + c]
                for i in 0 ..< Cin { dk1[i * C + c] += x[pixel * Cin + i] * dh[pixel * C + c] }
            } }
            // Winograd's transforms round differently from a direct sum (gradients are small here: compare to their scale).
            let tolerance: Float = winograd ? 2e-4 : 2e-5
            assertGradients(model, inputs: x, labels: labels, [("first kernel", dk1, 0), ("first bias", db1, Cin * C), ("second kernel", dk2, k2Start),
                                                               ("second bias", db2, k2Start + 9 * C * O)],
                            tolerance: tolerance, "\(input) \(padding) stride \(stride)")
        }
    }

    /// Runs one step's gradients on one thread and on two, and compares each
    /// (name, expected, first index) against the parameter gradients, relative to its largest value.
    func assertGradients(_ model: Model, inputs x: [Float], labels: [Int32], _ expectations: [(String, [Float], Int)], tolerance: Float,
                         _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        for threads in [1, 2] {
            let workspace = model.makeWorkspace(capacity: labels.count, training: true, threads: threads)
            model.load(workspace, inputs: x, labels: labels)
            var dropout = RandomGenerator(seed: 1)
            _ = model.lossAndGradients(workspace, B: labels.count, workers: threads == 1 ? .serial : WorkerPool(count: 2), dropout: &dropout)
            let gradients = model.parameterGradients.array
            for (name, expected, start) in expectations {
                let scale = expected.map(abs).max()!
                let actual = gradients[start ..< start + expected.count].map { $0 / scale }
                assertClose(actual, expected.map { $0 / scale }, tolerance: tolerance, "\(name), \(message), \(threads) thread(s)", file: file, line: line)
            }
        }
    }

    /// A one-channel first layer's kernel and bias gradients (direct loops, no
    /// sgemm) against a direct sum written here, under mean squared error on its
    /// linear output: inside windows four positions at a time, edge windows
    /// checked, strides, and a filter count that is a vector and a tail.
    func testOneChannelConvolutionGradientsMatchADirectLoop() throws {
        // (input, filters, kernel, strides, padding)
        let cases: [([Int], Int, [Int], [Int], String)] = [
            ([12, 12], 16, [5, 5], [1, 1], "valid"), ([9, 11], 20, [3, 3], [1, 1], "same"), ([10, 9], 5, [3, 4], [2, 3], "same"),
        ]
        for (input, O, kernelSize, strides, padding) in cases {
            let (H, W, B) = (input[0], input[1], 5)
            let conv = try layer(#"{"type": "conv2d", "filters": \#(O), "kernel_size": \#(kernelSize), "strides": \#(strides), "padding": "\#(padding)"}"#)
            let model = try model([conv], input: input)
            let (kh, kw) = (kernelSize[0], kernelSize[1]), p = model.parameters.array
            let kernel = Array(p[0 ..< kh * kw * O]), bias = Array(p[kh * kw * O ..< kh * kw * O + O])
            let x = randomInputs(B * H * W)
            let same = padding == "same"
            let (OH, top) = geometry(H, kh, strides[0], same: same), (OW, left) = geometry(W, kw, strides[1], same: same)
            let outputs = OH * OW * O
            var generator = RandomGenerator(seed: 5)
            let labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: outputs)) }
            let y = naiveConvolution(x, B: B, H: H, W: W, C: 1, kernel: kernel, bias: bias, kh: kh, kw: kw, O: O, sy: strides[0], sx: strides[1], same: same)
            var dk = [Float](repeating: 0, count: kh * kw * O), db = [Float](repeating: 0, count: O)
            for b in 0 ..< B { for oy in 0 ..< OH { for ox in 0 ..< OW { for o in 0 ..< O {
                let i = (oy * OW + ox) * O + o
                let g = 2 * (y[b * outputs + i] - (Int32(i) == labels[b] ? 1 : 0)) / Float(B * outputs)
                db[o] += g
                for ky in 0 ..< kh { for kx in 0 ..< kw {
                    let yy = oy * strides[0] + ky - top, xx = ox * strides[1] + kx - left
                    guard yy >= 0, yy < H, xx >= 0, xx < W else { continue }
                    dk[(ky * kw + kx) * O + o] += g * x[(b * H + yy) * W + xx]
                } }
            } } } }
            assertGradients(model, inputs: x, labels: labels, [("kernel", dk, 0), ("bias", db, kh * kw * O)],
                            tolerance: 2e-5, "\(input) \(kernelSize) \(strides) \(padding)")
        }
    }

    /// A one-channel first layer followed by Keras' default 2x2 max pool: the
    /// layer computes the pool too, and its output, kernel and bias gradients
    /// are those of a direct convolution, relu and pool (first maximum on ties)
    /// written here. Odd output sides drop their last row or column, as the pool does.
    func testOneChannelConvolutionFusedWithMaxPoolingMatchesADirectLoop() throws {
        // (input, filters, kernel, padding, activation)
        let cases: [([Int], Int, [Int], String, String)] = [
            ([12, 12], 16, [5, 5], "valid", "relu"), ([9, 11], 20, [3, 3], "same", "relu"), ([10, 10], 5, [3, 4], "valid", "linear"),
        ]
        for (input, O, kernelSize, padding, activation) in cases {
            let (H, W, B) = (input[0], input[1], 4)
            let conv = try layer(#"{"type": "conv2d", "filters": \#(O), "kernel_size": \#(kernelSize), "padding": "\#(padding)", "activation": "\#(activation)"}"#)
            let model = try model([conv, try layer(#"{"type": "max_pooling2d"}"#)], input: input)
            let (kh, kw) = (kernelSize[0], kernelSize[1]), p = model.parameters.array
            let kernel = Array(p[0 ..< kh * kw * O]), bias = Array(p[kh * kw * O ..< kh * kw * O + O])
            let x = randomInputs(B * H * W)
            let same = padding == "same", relu = activation == "relu"
            let (OH, top) = geometry(H, kh, 1, same: same), (OW, left) = geometry(W, kw, 1, same: same)
            let (PH, PW) = (OH / 2, OW / 2), outputs = PH * PW * O
            let y = naiveConvolution(x, B: B, H: H, W: W, C: 1, kernel: kernel, bias: bias, kh: kh, kw: kw, O: O, sy: 1, sx: 1, same: same,
                                     activation: relu ? { max($0, 0) } : { $0 })
            // The pool: each output's value and the input position of its first maximum.
            var pooled = [Float](), winner = [Int]()
            for b in 0 ..< B { for py in 0 ..< PH { for px in 0 ..< PW { for o in 0 ..< O {
                var best = -Float.infinity, at = 0
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = ((b * OH + 2 * py + dy) * OW + 2 * px + dx) * O + o
                    if y[i] > best { (best, at) = (y[i], i) }
                }
                pooled.append(best)
                winner.append(at)
            } } } }
            assertClose(model.predict(x), pooled, tolerance: 1e-5, "\(input) \(kernelSize) \(padding)")
            var generator = RandomGenerator(seed: 5)
            let labels = (0 ..< B).map { _ in Int32(generator.nextIndex(below: outputs)) }
            var dk = [Float](repeating: 0, count: kh * kw * O), db = [Float](repeating: 0, count: O)
            for (j, at) in winner.enumerated() {
                let (b, i) = (j / outputs, j % outputs)
                let g = 2 * (pooled[j] - (Int32(i) == labels[b] ? 1 : 0)) / Float(B * outputs)
                guard !relu || pooled[j] > 0 else { continue }
                let o = at % O, position = at / O % (OH * OW), (oy, ox) = (position / OW, position % OW)
                db[o] += g
                for ky in 0 ..< kh { for kx in 0 ..< kw {
                    let yy = oy + ky - top, xx = ox + kx - left
                    guard yy >= 0, yy < H, xx >= 0, xx < W else { continue }
                    dk[(ky * kw + kx) * O + o] += g * x[(b * H + yy) * W + xx]
                } }
            }
            assertGradients(model, inputs: x, labels: labels, [("kernel", dk, 0), ("bias", db, kh * kw * O)],
                            tolerance: 2e-5, "pooled, \(input) \(kernelSize) \(padding)")
        }
    }

    /// The products a step makes: a one-channel first layer makes none (direct
    /// loops); a 3x3 layer over 8 channels whose 8x8 output is whole 4x4 tiles
    /// runs Winograd F(4x4) forward (36 products of (tiles, C) by (C, O)) and its
    /// kernel gradient on the same tiles; its 10x10 input gradient (4x4 tiles
    /// would cover 1.44x) runs F(2x2) (16 products). With the plain algorithms
    /// (the benchmark's bound) each is im2col's one product per chunk instead.
    func testWinogradProductsWhereTilesFitAndThePlainOnesForTheBound() throws {
        var spec = ModelSpec(layers: [try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 1}"#),
                                      try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 3}"#),
                                      .flatten, .dense(units: 3, activation: .softmax)], loss: .categoricalCrossentropy)
        spec.inputShape = [10, 10, 1]
        let model = try Model(spec: spec, classCount: 3)
        let own = model.sgemmCalls(batch: 4, workers: .serial).flatMap { $0.flatMap { $0 } }
        let plain = model.sgemmCalls(batch: 4, workers: .serial, plainAlgorithms: true).flatMap { $0.flatMap { $0 } }
        // 4 images x 4 tiles = 16 rows, K = C = 8.
        let winograd = own.filter { $0.m == 16 && $0.k == 8 && $0.n == 8 && !$0.transposeA && !$0.transposeB }
        XCTAssertEqual(winograd.count, 36)
        let im2colForward = { (calls: [GEMMCall]) in calls.filter { $0.m == 4 * 64 && $0.k == 72 && $0.n == 8 && !$0.transposeA && !$0.transposeB } }
        XCTAssertEqual(im2colForward(own).count, 0)
        XCTAssertEqual(im2colForward(plain).count, 1)
        XCTAssertFalse(plain.contains { $0.m == 16 })
        // The kernel's gradient: 36 products of (C, tiles) by (tiles, O) on the forward's tiles,
        // or im2col's (9·C, positions) by (positions, O) in the plain algorithms.
        let winogradKernelGradient = { (calls: [GEMMCall]) in calls.filter { $0.transposeA && $0.m == 8 && $0.k == 16 && $0.n == 8 } }
        XCTAssertEqual(winogradKernelGradient(own).count, 36)
        XCTAssertEqual(winogradKernelGradient(plain).count, 0)
        XCTAssertEqual(plain.filter { $0.transposeA && $0.m == 72 && $0.k == 4 * 64 && $0.n == 8 }.count, 1)
        // The input gradient: F(2x2)'s 16 products of (tiles, O) by (O, C), 4 images x 25 tiles;
        // col2im's (positions, O) by (O, 9·C) in the plain algorithms.
        XCTAssertEqual(own.filter { $0.m == 100 && $0.k == 8 && $0.n == 8 && !$0.transposeA && !$0.transposeB }.count, 16)
        XCTAssertEqual(own.filter { $0.transposeB && $0.k == 8 && $0.n == 72 }.count, 0)
        XCTAssertEqual(plain.filter { $0.transposeB && $0.k == 8 && $0.n == 72 }.count, 1)
        // The one-channel 1x1 layer: im2col's (positions, 1) by (1, 8), forward and kernel gradient, only in the plain algorithms.
        let firstLayer = { (calls: [GEMMCall]) in calls.filter { ($0.m == 4 * 100 && $0.k == 1) || ($0.m == 1 && $0.k == 4 * 100) } }
        XCTAssertEqual(firstLayer(own).count, 0)
        XCTAssertEqual(firstLayer(plain).count, 2)
    }

    func testConvKernelIsStoredAsKerasStoresIt() throws {
        let conv = try layer(#"{"type": "conv2d", "filters": 4, "kernel_size": 3}"#)
        let model = try model([conv], input: [5, 5, 2])
        XCTAssertEqual(model.variables.map(\.name), ["conv2d_1.kernel", "conv2d_1.bias"])
        XCTAssertEqual(model.variables.map(\.shape), [[3, 3, 2, 4], [4]])
        XCTAssertEqual(model.summary[0].outputShape, [3, 3, 4])
        XCTAssertEqual(model.summary[0].parameterCount, 3 * 3 * 2 * 4 + 4)
    }

    /// Keras' glorot_uniform for a conv kernel: fans are receptive field x channels.
    func testConvInitialiserUsesKerasFans() throws {
        var spec = ModelSpec(layers: [try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 5}"#), .flatten,
                                      .dense(units: 10, activation: .softmax)], loss: .categoricalCrossentropy)
        spec.inputShape = [12, 12, 3]
        let model = try Model(spec: spec)
        var generator = RandomGenerator(seed: 4)
        model.initializeParameters(generator: &generator)
        let kernel = model.parameters.slice(0, 5 * 5 * 3 * 8)
        let limit = (6 / Float(25 * 3 + 25 * 8)).squareRoot()
        XCTAssertLessThanOrEqual(kernel.map(abs).max()!, limit)
        XCTAssertGreaterThan(kernel.map(abs).max()!, limit * 0.95)
        XCTAssertEqual(model.parameters.slice(5 * 5 * 3 * 8, 8), [Float](repeating: 0, count: 8))
    }

    /// An identity 1x1 convolution first (pooling has no parameters), then the pool.
    func pooled(_ pool: String, input: [Int], B: Int) throws -> (model: Model, x: [Float]) {
        let C = input[2]
        let identity = try layer(#"{"type": "conv2d", "filters": \#(C), "kernel_size": 1, "use_bias": false}"#)
        let model = try model([identity, try layer(pool)], input: input)
        for i in 0 ..< C { for o in 0 ..< C { model.parameters.pointer[i * C + o] = i == o ? 1 : 0 } }
        return (model, randomInputs(B * input.reduce(1, *)))
    }

    func naivePooling(_ input: [Float], B: Int, H: Int, W: Int, C: Int, ph: Int, pw: Int, sy: Int, sx: Int, same: Bool, average: Bool) -> [Float] {
        let (OH, top) = geometry(H, ph, sy, same: same), (OW, left) = geometry(W, pw, sx, same: same)
        var out = [Float]()
        for b in 0 ..< B { for oy in 0 ..< OH { for ox in 0 ..< OW { for c in 0 ..< C {
            var values = [Float]()
            for ky in 0 ..< ph { for kx in 0 ..< pw {
                let y = oy * sy + ky - top, x = ox * sx + kx - left
                if y >= 0, y < H, x >= 0, x < W { values.append(input[((b * H + y) * W + x) * C + c]) }
            } }
            out.append(average ? values.reduce(0, +) / Float(values.count) : values.max()!)
        } } } }
        return out
    }

    func testPoolingMatchesADirectLoop() throws {
        // (input, pool, strides or nil, padding)
        let cases: [([Int], [Int], [Int]?, String)] = [
            ([6, 6, 3], [2, 2], nil, "valid"),
            ([7, 7, 2], [2, 2], nil, "valid"), // the last row and column fall outside every window
            ([4, 6, 19], [2, 2], nil, "valid"), // Keras' default pool (written out) over a vector and a tail
            ([5, 4, 3], [2, 2], nil, "same"), // the last row's windows run past the edge: the general loop
            ([7, 5, 17], [3, 3], [2, 2], "same"), // overlapping windows, 17 channels (a vector and a tail)
            ([5, 8, 1], [2, 3], [1, 2], "valid"),
            ([6, 6, 4], [2, 2], [3, 3], "same"), // gaps between windows
        ]
        for (input, poolSize, strides, padding) in cases {
            for kind in ["max_pooling2d", "average_pooling2d"] {
                let stridesJSON = strides.map { #", "strides": \#($0)"# } ?? ""
                let (model, x) = try pooled(#"{"type": "\#(kind)", "pool_size": \#(poolSize)\#(stridesJSON), "padding": "\#(padding)"}"#, input: input, B: 2)
                let s = strides ?? poolSize
                let expected = naivePooling(x, B: 2, H: input[0], W: input[1], C: input[2], ph: poolSize[0], pw: poolSize[1], sy: s[0], sx: s[1],
                                            same: padding == "same", average: kind == "average_pooling2d")
                assertClose(model.predict(x), expected, tolerance: 1e-6, "\(kind) \(input) \(poolSize) \(padding)")
            }
        }
    }

    func testGlobalAveragePooling() throws {
        let (model, x) = try pooled(#"{"type": "global_average_pooling2d"}"#, input: [3, 4, 5], B: 2)
        var expected = [Float]()
        for b in 0 ..< 2 { for c in 0 ..< 5 {
            expected.append((0 ..< 12).map { x[(b * 12 + $0) * 5 + c] }.reduce(0, +) / 12)
        } }
        assertClose(model.predict(x), expected, tolerance: 1e-6)
    }

    func testGlobalMaxPooling() throws {
        let (model, x) = try pooled(#"{"type": "global_max_pooling2d"}"#, input: [3, 4, 5], B: 2)
        var expected = [Float]()
        for b in 0 ..< 2 { for c in 0 ..< 5 { expected.append((0 ..< 12).map { x[(b * 12 + $0) * 5 + c] }.max()!) } }
        assertClose(model.predict(x), expected, tolerance: 0)
    }

    /// Keras' three forms of `padding`, each against a loop that places the image by hand.
    func testZeroPaddingMatchesADirectLoop() throws {
        let (H, W, C) = (3, 4, 2)
        for (json, top, bottom, left, right) in [("1", 1, 1, 1, 1), ("[2, 0]", 2, 2, 0, 0), ("[[1, 0], [2, 3]]", 1, 0, 2, 3)] {
            let (model, x) = try pooled(#"{"type": "zero_padding2d", "padding": \#(json)}"#, input: [H, W, C], B: 2)
            let (OH, OW) = (top + H + bottom, left + W + right)
            var expected = [Float](repeating: 0, count: 2 * OH * OW * C)
            for b in 0 ..< 2 { for y in 0 ..< H { for x0 in 0 ..< W { for c in 0 ..< C {
                expected[((b * OH + y + top) * OW + x0 + left) * C + c] = x[((b * H + y) * W + x0) * C + c]
            } } } }
            assertClose(model.predict(x), expected, tolerance: 0, json)
        }
        for bad in [#"-1"#, #"[1, 2, 3]"#, #"[[1, 2], [3]]"#, #"1.5"#, #""same""#, #"2000"#] {
            XCTAssertThrowsError(try layer(#"{"type": "zero_padding2d", "padding": \#(bad)}"#), bad) {
                XCTAssertTrue("\($0)".hasPrefix("layer.padding: expected an integer, a pair"), "\($0)")
            }
        }
    }

    /// leaky_relu (slope 0.2 below zero, Keras' activation default), elu (exp(x) - 1 below
    /// zero), gelu (exact, x·Φ(x)) and silu (x·sigmoid(x), also called swish) against their
    /// formulas in doubles, on both sides of zero, as a layer and inside conv2d.
    func testActivationsMatchTheirFormulas() throws {
        let C = 3
        let x = randomInputs(2 * 4 * C).map { ($0 - 0.5) * 6 }
        let silu = { (v: Float) in Float(Double(v) / (1 + exp(-Double(v)))) }
        let formulas: [(String, (Float) -> Float)] = [
            ("leaky_relu", { $0 > 0 ? $0 : 0.2 * $0 }), ("elu", { $0 > 0 ? $0 : Float(exp(Double($0)) - 1) }),
            ("gelu", { Float(0.5 * Double($0) * (1 + erf(Double($0) / 2.0.squareRoot()))) }), ("silu", silu), ("swish", silu),
        ]
        for (name, formula) in formulas {
            let identity = try layer(#"{"type": "conv2d", "filters": \#(C), "kernel_size": 1, "use_bias": false}"#)
            let fused = try layer(#"{"type": "conv2d", "filters": \#(C), "kernel_size": 1, "use_bias": false, "activation": "\#(name)"}"#)
            for layers in [[identity, try layer(#"{"type": "activation", "activation": "\#(name)"}"#)], [fused]] {
                let model = try model(layers, input: [2, 2, C])
                for i in 0 ..< C { for o in 0 ..< C { model.parameters.pointer[i * C + o] = i == o ? 1 : 0 } }
                XCTAssertTrue(x.contains { $0 < -1 } && x.contains { $0 > 1 })
                assertClose(model.predict(x), x.map(formula), tolerance: 1e-6, name)
            }
        }
    }

    /// Each position's channels normalised by their own mean and biased variance, then
    /// gamma and beta; the same in training and inference. Keras' axis is the last or refused.
    func testLayerNormalizationMatchesItsFormula() throws {
        let (H, W, C) = (2, 3, 5)
        let identity = try layer(#"{"type": "conv2d", "filters": \#(C), "kernel_size": 1, "use_bias": false}"#)
        let norm = try layer(#"{"type": "layer_normalization", "epsilon": 0.01}"#)
        let model = try model([identity, norm], input: [H, W, C])
        XCTAssertEqual(model.variables.map(\.name), ["conv2d_1.kernel", "layer_normalization_1.gamma", "layer_normalization_1.beta"])
        for i in 0 ..< C { for o in 0 ..< C { model.parameters.pointer[i * C + o] = i == o ? 1 : 0 } }
        let gamma = (0 ..< C).map { Float($0) * 0.5 - 1 }, beta = (0 ..< C).map { Float($0) * 0.25 + 0.1 }
        for c in 0 ..< C { model.parameters.pointer[C * C + c] = gamma[c]; model.parameters.pointer[C * C + C + c] = beta[c] }
        let x = randomInputs(2 * H * W * C).map { $0 * 4 - 1 }
        var expected = [Float]()
        for row in 0 ..< 2 * H * W {
            let values = (0 ..< C).map { Double(x[row * C + $0]) }
            let mean = values.reduce(0, +) / Double(C), variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(C)
            for c in 0 ..< C { expected.append(Float((values[c] - mean) / (variance + 0.01).squareRoot()) * gamma[c] + beta[c]) }
        }
        assertClose(model.predict(x), expected, tolerance: 1e-5)
        XCTAssertNoThrow(try self.model([identity, try layer(#"{"type": "layer_normalization", "axis": 3}"#)], input: [H, W, C]))
        XCTAssertThrowsError(try self.model([identity, try layer(#"{"type": "layer_normalization", "axis": 1}"#)], input: [H, W, C])) {
            XCTAssertEqual("\($0)", "layers[1].axis: only the last axis (-1, or 3 for the input (2, 3, 5)) can be normalised, not 1")
        }
    }

    /// Inference: y = gamma (x - moving_mean) / sqrt(moving_variance + epsilon) + beta.
    /// Training: the batch's mean and biased variance over every row and position,
    /// and each moving average becomes momentum·average + (1 - momentum)·batch value.
    func testBatchNormalizationInInferenceAndTraining() throws {
        let C = 3, B = 4, P = 6
        let identity = try layer(#"{"type": "conv2d", "filters": 3, "kernel_size": 1, "use_bias": false}"#)
        let norm = try layer(#"{"type": "batch_normalization", "momentum": 0.9, "epsilon": 0.01}"#)
        let model = try model([identity, norm], input: [2, 3, C])
        for i in 0 ..< C { for o in 0 ..< C { model.parameters.pointer[i * C + o] = i == o ? 1 : 0 } }
        XCTAssertEqual(model.variables.map(\.name), ["conv2d_1.kernel", "batch_normalization_1.gamma", "batch_normalization_1.beta",
                                                     "batch_normalization_1.moving_mean", "batch_normalization_1.moving_variance"])
        XCTAssertEqual(model.nonTrainableCount, 2 * C)
        let gamma: [Float] = [0.5, -1.5, 2], beta: [Float] = [0.1, 0.2, -0.3], mean: [Float] = [0.4, 0.5, 0.6], variance: [Float] = [0.2, 1.5, 0.05]
        model.parameters.assign(gamma + beta, at: C * C)
        model.nonTrainable.assign(mean + variance)
        let x = randomInputs(B * P * C)
        let inference = (0 ..< B * P * C).map { k in
            let c = k % C
            return gamma[c] * (x[k] - mean[c]) / (variance[c] + 0.01).squareRoot() + beta[c]
        }
        assertClose(model.predict(x), inference, tolerance: 1e-5, "inference")

        var random = RandomGenerator(seed: 1)
        let trained = model.predict(x, training: true, random: &random)
        let batchMean = (0 ..< C).map { c in (0 ..< B * P).map { Double(x[$0 * C + c]) }.reduce(0, +) / Double(B * P) }
        let batchVariance = (0 ..< C).map { c in (0 ..< B * P).map { pow(Double(x[$0 * C + c]) - batchMean[c], 2) }.reduce(0, +) / Double(B * P) }
        let training = (0 ..< B * P * C).map { k in
            let c = k % C
            return Float(Double(gamma[c]) * (Double(x[k]) - batchMean[c]) / (batchVariance[c] + 0.01).squareRoot() + Double(beta[c]))
        }
        assertClose(trained, training, tolerance: 1e-5, "training")
        let movingMean: [Float] = (0 ..< C).map { c in Float(0.9 * Double(mean[c]) + 0.1 * batchMean[c]) }
        let movingVariance: [Float] = (0 ..< C).map { c in Float(0.9 * Double(variance[c]) + 0.1 * batchVariance[c]) }
        assertClose(model.nonTrainable.array, movingMean + movingVariance, tolerance: 1e-6, "moving averages")

        // Followed by a relu layer, the batch normalization applies it (fused): the same values, negatives at zero.
        let withRelu = try self.model([identity, norm, .activation(.relu)], input: [2, 3, C])
        withRelu.parameters.assign(model.parameters.array)
        withRelu.nonTrainable.assign(mean + variance)
        assertClose(withRelu.predict(x), inference.map { max($0, 0) }, tolerance: 1e-5, "inference, relu")
        var again = RandomGenerator(seed: 1)
        assertClose(withRelu.predict(x, training: true, random: &again), training.map { max($0, 0) }, tolerance: 1e-5, "training, relu")
    }

    /// Reshape and flatten are views: the values pass unchanged, in NHWC order.
    func testReshapeAndFlattenPassValuesThrough() throws {
        let identity = try layer(#"{"type": "dense", "units": 12, "use_bias": false}"#)
        let model = try model([identity, try layer(#"{"type": "reshape", "target_shape": [2, -1, 3]}"#)], input: [12])
        XCTAssertEqual(model.summary[1].outputShape, [2, 2, 3])
        for i in 0 ..< 12 { for o in 0 ..< 12 { model.parameters.pointer[i * 12 + o] = i == o ? 1 : 0 } }
        let x = randomInputs(24)
        XCTAssertEqual(model.predict(x), x)
        XCTAssertThrowsError(try Model(spec: {
            var spec = ModelSpec(layers: [identity, try! layer(#"{"type": "reshape", "target_shape": [5, 5]}"#)], loss: .meanSquaredError)
            spec.inputShape = [12]
            return spec
        }(), classCount: 25)) { XCTAssertEqual("\($0)", "layers[1].target_shape: cannot reshape (12,) (12 values) into (5, 5)") }
    }

    func testShapeErrorsNameTheLayerAndBothShapes() throws {
        func error(_ layers: [LayerSpec], input: [Int]) -> String {
            var spec = ModelSpec(layers: layers, loss: .categoricalCrossentropy)
            spec.inputShape = input
            do { _ = try Model(spec: spec); return "no error" } catch { return "\(error)" }
        }
        let conv = try layer(#"{"type": "conv2d", "filters": 2, "kernel_size": 5}"#)
        XCTAssertEqual(error([conv], input: [3, 3, 1]), #"layers[0].kernel_size: a 5x5 kernel does not fit the input (3, 3, 1) with padding "valid""#)
        XCTAssertEqual(error([.flatten, conv], input: [8, 8]),
                       #"layers[1]: conv2d expects images (height, width, channels) but receives (64,); set input_shape to [28, 28] or add {"type": "reshape", "target_shape": [28, 28, 1]}"#)
    }

    func testSpecsRoundTripWithKerasDefaults() throws {
        let conv = try layer(#"{"type": "conv2d", "filters": 8, "kernel_size": 3}"#)
        XCTAssertEqual(conv.json.serialized, #"{"type":"conv2d","filters":8,"kernel_size":[3,3],"strides":[1,1],"padding":"valid","activation":"linear","use_bias":true,"kernel_initializer":"glorot_uniform","bias_initializer":"zeros"}"#)
        let pool = try layer(#"{"type": "max_pooling2d", "pool_size": 3}"#)
        XCTAssertEqual(pool.json.serialized, #"{"type":"max_pooling2d","pool_size":[3,3],"strides":[3,3],"padding":"valid"}"#)
        let norm = try layer(#"{"type": "batch_normalization"}"#)
        XCTAssertEqual(norm.json.serialized, #"{"type":"batch_normalization","momentum":0.99,"epsilon":0.001,"center":true,"scale":true}"#)
        for spec in [conv, pool, norm, try layer(#"{"type": "reshape", "target_shape": [7, 4, 28]}"#),
                     try layer(#"{"type": "average_pooling2d", "strides": [1, 2], "padding": "same"}"#), try layer(#"{"type": "global_average_pooling2d"}"#)] {
            XCTAssertEqual(try LayerSpec(json: spec.json, path: "x"), spec)
        }
    }
}
