// Direct convolution of a one-channel image (the first layer on gray images),
// forward and kernel gradient, alone or fused with the 2x2 max pool after it.
// Its windows hold only K = kh·kw values (9, 25), so im2col's columns are K
// times the image and sgemm's (positions, K) by (K, O) products too thin to run
// at speed: measured in one process on mnist-fast's 5x5 layer, im2col and sgemm
// took 2.2x as long as these loops forward and 1.3x for the kernel's gradient
// (docs/PERFORMANCE.md). Filters go sixteen to a vector; one output row at a
// time is computed into (or read from) a row of vectors in L1, four positions
// sharing each kernel value (forward) or each gradient sum (kernel gradient) so
// that four fused multiply-adds are in flight (the row's last interior positions
// one at a time). Windows that cross the image's edge take a checked loop.
//
// Fused with a 2x2 max pool, the convolution's output never reaches memory: each
// pair of rows is pooled straight from L1, and the backward rebuilds the
// convolution's output gradient a pair of rows at a time from the pool's
// gradient and the positions of its maxima.

/// The output columns [lower, upper) of output row `oy` whose windows lie
/// inside the image; empty when the row's window rows do not.
@inline(__always)
private func interiorColumns(_ g: Window2D, _ oy: Int) -> (lower: Int, upper: Int) {
    let y0 = oy * g.strideY - g.padTop
    guard y0 >= 0, y0 + g.kernelHeight <= g.height else { return (0, 0) }
    let lower = (g.padLeft + g.strideX - 1) / g.strideX
    let upper = min(g.outputWidth, (g.width - g.kernelWidth + g.padLeft) / g.strideX + 1)
    return (min(lower, upper), upper)
}

/// row[ox] = base + Σ over the window of output row `oy` of pixel · weights[tap]
/// (kh·kw vectors: one vector of filters per tap).
@inline(__always)
private func convolveRow(_ row: UnsafeMutablePointer<FloatVector>, oy: Int, image: UnsafePointer<Float>,
                         weights: UnsafePointer<FloatVector>, base: FloatVector, _ g: Window2D) {
    let (kh, kw, H, W, sx) = (g.kernelHeight, g.kernelWidth, g.height, g.width, g.strideX)
    let y0 = oy * g.strideY - g.padTop, (lower, upper) = interiorColumns(g, oy)
    @inline(__always) func checked(_ ox: Int) {
        var sum = base
        let x0 = ox * sx - g.padLeft
        for ky in 0 ..< kh where y0 + ky >= 0 && y0 + ky < H {
            for kx in 0 ..< kw where x0 + kx >= 0 && x0 + kx < W {
                sum = sum.addingProduct(image[(y0 + ky) * W + x0 + kx], weights[ky * kw + kx])
            }
        }
        row[ox] = sum
    }
    var ox = 0
    while ox < lower { checked(ox); ox += 1 }
    while ox + 4 <= upper {
        var (s0, s1, s2, s3) = (base, base, base, base)
        for ky in 0 ..< kh {
            let pixels = image + (y0 + ky) * W + ox * sx - g.padLeft, rowWeights = weights + ky * kw
            for kx in 0 ..< kw {
                let w = rowWeights[kx]
                s0 = s0.addingProduct(pixels[kx], w)
                s1 = s1.addingProduct(pixels[kx + sx], w)
                s2 = s2.addingProduct(pixels[kx + 2 * sx], w)
                s3 = s3.addingProduct(pixels[kx + 3 * sx], w)
            }
        }
        (row[ox], row[ox + 1], row[ox + 2], row[ox + 3]) = (s0, s1, s2, s3)
        ox += 4
    }
    while ox < upper {
        var sum = base
        for ky in 0 ..< kh {
            let pixels = image + (y0 + ky) * W + ox * sx - g.padLeft, rowWeights = weights + ky * kw
            for kx in 0 ..< kw { sum = sum.addingProduct(pixels[kx], rowWeights[kx]) }
        }
        row[ox] = sum
        ox += 1
    }
    while ox < g.outputWidth { checked(ox); ox += 1 }
}

/// sums[tap] += Σ over output row `oy`'s positions of the window's pixel at tap · gradients[ox].
@inline(__always)
private func accumulateRow(_ sums: UnsafeMutablePointer<FloatVector>, oy: Int, image: UnsafePointer<Float>,
                           gradients d: UnsafePointer<FloatVector>, _ g: Window2D) {
    let (kh, kw, H, W, sx) = (g.kernelHeight, g.kernelWidth, g.height, g.width, g.strideX)
    let y0 = oy * g.strideY - g.padTop, (lower, upper) = interiorColumns(g, oy)
    @inline(__always) func checked(_ ox: Int) {
        let x0 = ox * sx - g.padLeft
        for ky in 0 ..< kh where y0 + ky >= 0 && y0 + ky < H {
            for kx in 0 ..< kw where x0 + kx >= 0 && x0 + kx < W {
                sums[ky * kw + kx] = sums[ky * kw + kx].addingProduct(image[(y0 + ky) * W + x0 + kx], d[ox])
            }
        }
    }
    var ox = 0
    while ox < lower { checked(ox); ox += 1 }
    while ox + 4 <= upper {
        let (d0, d1, d2, d3) = (d[ox], d[ox + 1], d[ox + 2], d[ox + 3])
        for ky in 0 ..< kh {
            let pixels = image + (y0 + ky) * W + ox * sx - g.padLeft, rowSums = sums + ky * kw
            for kx in 0 ..< kw {
                var sum = rowSums[kx]
                sum = sum.addingProduct(pixels[kx], d0)
                sum = sum.addingProduct(pixels[kx + sx], d1)
                sum = sum.addingProduct(pixels[kx + 2 * sx], d2)
                sum = sum.addingProduct(pixels[kx + 3 * sx], d3)
                rowSums[kx] = sum
            }
        }
        ox += 4
    }
    while ox < upper {
        for ky in 0 ..< kh {
            let pixels = image + (y0 + ky) * W + ox * sx - g.padLeft, rowSums = sums + ky * kw
            for kx in 0 ..< kw { rowSums[kx] = rowSums[kx].addingProduct(pixels[kx], d[ox]) }
        }
        ox += 1
    }
    while ox < g.outputWidth { checked(ox); ox += 1 }
}

/// Calls `body(o, lanes, taps, rows)` for each vector of filters with two
/// scratch areas in L1: kh·kw vectors (the taps' weights or gradient sums) and
/// `rows` output rows of vectors.
@inline(__always)
private func forEachFilterVector(_ O: Int, _ g: Window2D, rows: Int,
                                 _ body: (_ o: Int, _ lanes: Int, _ taps: UnsafeMutablePointer<FloatVector>, _ rows: UnsafeMutablePointer<FloatVector>) -> Void) {
    let taps = g.kernelHeight * g.kernelWidth
    withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: taps + rows * g.outputWidth) { buffer in
        let base = buffer.baseAddress!
        forEachChannelVector(O) { o, lanes in body(o, lanes, base, base + taps) }
    }
}

/// The vectors of filters o ..< o + lanes of a (kh, kw, 1, O) kernel, zero past `lanes`.
@inline(__always)
private func loadTaps(_ taps: UnsafeMutablePointer<FloatVector>, _ kernel: UnsafePointer<Float>, o: Int, lanes: Int, O: Int, _ g: Window2D) {
    for k in 0 ..< g.kernelHeight * g.kernelWidth { taps[k] = loadVector(kernel + k * O + o, lanes) }
}

/// Adds the taps' gradient sums into a (kh, kw, 1, O) kernel gradient's filters o ..< o + lanes.
@inline(__always)
private func addTaps(_ taps: UnsafePointer<FloatVector>, _ dkernel: UnsafeMutablePointer<Float>, o: Int, lanes: Int, O: Int, _ g: Window2D) {
    for k in 0 ..< g.kernelHeight * g.kernelWidth { storeVector(loadVector(dkernel + k * O + o, lanes) + taps[k], dkernel + k * O + o, lanes) }
}

/// out (P, O) = the convolution of one (H, W, 1) image with `kernel` (kh, kw, 1, O),
/// plus `bias`, then relu when asked.
func directConvolution(_ out: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, relu: Bool, filters O: Int, _ g: Window2D) {
    forEachFilterVector(O, g, rows: 1) { o, lanes, weights, row in
        loadTaps(weights, kernel, o: o, lanes: lanes, O: O, g)
        let base = bias.map { loadVector($0 + o, lanes) } ?? FloatVector(repeating: 0)
        for oy in 0 ..< g.outputHeight {
            convolveRow(row, oy: oy, image: image, weights: weights, base: base, g)
            for ox in 0 ..< g.outputWidth {
                let value = row[ox], zero = FloatVector(repeating: 0)
                storeVector(relu ? value.replacing(with: zero, where: value .< zero) : value, out + (oy * g.outputWidth + ox) * O + o, lanes)
            }
        }
    }
}

/// dkernel (kh, kw, 1, O) += Σ over positions of the window's pixels times dout (P, O),
/// for one (H, W, 1) image.
func directKernelGradient(_ dkernel: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                          filters O: Int, _ g: Window2D) {
    forEachFilterVector(O, g, rows: 1) { o, lanes, sums, row in
        sums.initialize(repeating: FloatVector(repeating: 0), count: g.kernelHeight * g.kernelWidth)
        for oy in 0 ..< g.outputHeight {
            for ox in 0 ..< g.outputWidth { row[ox] = loadVector(dout + (oy * g.outputWidth + ox) * O + o, lanes) }
            accumulateRow(sums, oy: oy, image: image, gradients: row, g)
        }
        addTaps(sums, dkernel, o: o, lanes: lanes, O: O, g)
    }
}

/// The convolution (then relu when asked) pooled by Keras' 2x2 max pool with
/// strides 2, as `MaxPooling2D` computes it: `pooled` (PH, PW, O) for one image,
/// and in training each maximum's position in its window (0 ..< 4, the first on
/// ties) in `argmax`. Output rows and columns past 2·PH and 2·PW are not needed.
func directConvolutionPooled(_ pooled: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>?, image: UnsafePointer<Float>,
                             kernel: UnsafePointer<Float>, bias: UnsafePointer<Float>?, relu: Bool, filters O: Int, _ g: Window2D, pool: Window2D) {
    forEachFilterVector(O, g, rows: 2) { o, lanes, weights, rows in
        loadTaps(weights, kernel, o: o, lanes: lanes, O: O, g)
        let base = bias.map { loadVector($0 + o, lanes) } ?? FloatVector(repeating: 0)
        let (top, bottom) = (rows, rows + g.outputWidth), zero = FloatVector(repeating: 0)
        @inline(__always) func activated(_ value: FloatVector) -> FloatVector { relu ? value.replacing(with: zero, where: value .< zero) : value }
        for py in 0 ..< pool.outputHeight {
            convolveRow(top, oy: 2 * py, image: image, weights: weights, base: base, g)
            convolveRow(bottom, oy: 2 * py + 1, image: image, weights: weights, base: base, g)
            for px in 0 ..< pool.outputWidth {
                let maximum = WindowMaximum().considering(activated(top[2 * px]), at: 0).considering(activated(top[2 * px + 1]), at: 1)
                    .considering(activated(bottom[2 * px]), at: 2).considering(activated(bottom[2 * px + 1]), at: 3)
                let at = (py * pool.outputWidth + px) * O + o
                storeVector(maximum.value, pooled + at, lanes)
                if let argmax { storeVector(maximum.position, argmax + at, lanes) }
            }
        }
    }
}

/// The kernel and bias gradients of `directConvolutionPooled` for one image:
/// the convolution's output gradient is the pool's at each maximum's position
/// (zero elsewhere, and where relu's output is zero), rebuilt two rows at a time.
/// dkernel (kh, kw, 1, O) and dbias (O) are added to.
func directKernelGradientPooled(_ dkernel: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?, image: UnsafePointer<Float>,
                                pooled: UnsafePointer<Float>, dpooled: UnsafePointer<Float>, argmax: UnsafePointer<Float>, relu: Bool,
                                filters O: Int, _ g: Window2D, pool: Window2D) {
    forEachFilterVector(O, g, rows: 2) { o, lanes, sums, rows in
        sums.initialize(repeating: FloatVector(repeating: 0), count: g.kernelHeight * g.kernelWidth)
        // Columns no pool window covers keep a zero gradient.
        rows.initialize(repeating: FloatVector(repeating: 0), count: 2 * g.outputWidth)
        let (top, bottom) = (rows, rows + g.outputWidth), zero = FloatVector(repeating: 0)
        var biasSum = zero
        for py in 0 ..< pool.outputHeight {
            for px in 0 ..< pool.outputWidth {
                let at = (py * pool.outputWidth + px) * O + o
                var dy = loadVector(dpooled + at, lanes)
                if relu { dy.replace(with: 0, where: loadVector(pooled + at, lanes) .<= 0) }
                let position = loadVector(argmax + at, lanes)
                top[2 * px] = zero.replacing(with: dy, where: position .== 0)
                top[2 * px + 1] = zero.replacing(with: dy, where: position .== 1)
                bottom[2 * px] = zero.replacing(with: dy, where: position .== 2)
                bottom[2 * px + 1] = zero.replacing(with: dy, where: position .== 3)
                biasSum += dy
            }
            accumulateRow(sums, oy: 2 * py, image: image, gradients: top, g)
            accumulateRow(sums, oy: 2 * py + 1, image: image, gradients: bottom, g)
        }
        addTaps(sums, dkernel, o: o, lanes: lanes, O: O, g)
        if let dbias { storeVector(loadVector(dbias + o, lanes) + biasSum, dbias + o, lanes) }
    }
}
