// Winograd minimal filtering F(m x m, 3 x 3) for stride-1 3x3 convolutions on
// NHWC images (Lavin & Gray, arXiv 1509.09308). Each α x α input tile d
// (α = m + 2, overlapping by 2) becomes V = Bᵀ d B, the kernel g becomes
// U = G g Gᵀ, and the α² element-wise products summed over input channels are
// α² sgemm calls, (tiles x C) · (C x O); each m x m output tile is Aᵀ M A.
// F(4x4) needs 4x fewer multiplications than direct convolution (F(2x2) 2.25x).
// Shapes: C input channels, O output channels, T tiles, ξ = i·α + j indexes
// the α² transformed positions.

/// The transform of F(m x m, 3 x 3): the kernel's matrix G (α x 3), row-major.
/// Bᵀ and Aᵀ, applied far more often, are written out in `inputRows` and
/// `outputRows` for F(4x4, 3x3), the one transform there is (`f4`).
struct WinogradTransform: Sendable {
    /// Output tile side.
    let m: Int
    /// Input tile side, m + 2.
    var alpha: Int { m + 2 }
    /// G (α x 3).
    let kernelMatrix: [Float]

    /// F(4x4, 3x3): points 0, ±1, ±2, and infinity.
    static let f4 = WinogradTransform(
        m: 4,
        kernelMatrix: [1.0 / 4, 0, 0,
                       -1.0 / 6, -1.0 / 6, -1.0 / 6,
                       -1.0 / 6, 1.0 / 6, -1.0 / 6,
                       1.0 / 24, 1.0 / 12, 1.0 / 6,
                       1.0 / 24, -1.0 / 12, 1.0 / 6,
                       0, 0, 1])
}

/// One stride-1 3x3 convolution as Winograd computes it: an (H, W, C) image
/// to an (OH, OW, O) one, the window's top-left input pixel at (y·1 - padTop,
/// x·1 - padLeft), zero outside the image.
struct WinogradConvolution: Sendable {
    let transform: WinogradTransform
    let height: Int, width: Int, channels: Int
    let outputHeight: Int, outputWidth: Int, filters: Int
    let padTop: Int, padLeft: Int

    var tilesY: Int { (outputHeight + transform.m - 1) / transform.m }
    var tilesX: Int { (outputWidth + transform.m - 1) / transform.m }
    var tilesPerImage: Int { tilesY * tilesX }
    /// Images per chunk: about 128 tiles, enough rows for sgemm to run at speed
    /// and few enough that a chunk's transformed tiles and products (α²·128·(C + O)
    /// floats, 1.8 MB for 32 in and 64 out) stay near the core's 1 MB L2: measured
    /// in one process on mnist-cnn, a step took 4-9% longer with 512-tile chunks.
    var chunk: Int { max(1, 128 / tilesPerImage) }
    /// Floats of the transformed kernel: α² matrices of (C, O).
    var kernelSize: Int { transform.alpha * transform.alpha * channels * filters }
    /// Floats of scratch for `images` images: the transformed inputs, then the products.
    func scratchSize(images: Int) -> Int {
        transform.alpha * transform.alpha * images * tilesPerImage * (channels + filters)
    }

    /// U[ξ] (C, O) = G g Gᵀ for every (c, o), from a Keras kernel (3, 3, C, O),
    /// for input channels `rows` (threads split them). With `flipped`, the kernel is
    /// read rotated by 180° with its channel axes swapped, (3, 3, O, C) from
    /// (3, 3, C, O): the input-gradient pass's kernel.
    func transformKernel(_ u: UnsafeMutablePointer<Float>, kernel: UnsafePointer<Float>, rows: Range<Int>, flipped: Bool) {
        let alpha = transform.alpha, C = channels, O = filters, G = transform.kernelMatrix
        // Stored kernel: (3, 3, Cs, Os) with (Cs, Os) = (O, C) when flipped.
        let storedOutputs = flipped ? C : O
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 9 + 3 * alpha) { buffer in
            let g = buffer.baseAddress!, gG = g + 9
            for c in rows {
                for o in 0 ..< O {
                    for ky in 0 ..< 3 {
                        for kx in 0 ..< 3 {
                            g[ky * 3 + kx] = flipped ? kernel[((2 - ky) * 3 + (2 - kx)) * O * C + o * storedOutputs + c]
                                                     : kernel[(ky * 3 + kx) * C * O + c * storedOutputs + o]
                        }
                    }
                    // G g (α x 3), then (G g) Gᵀ.
                    for i in 0 ..< alpha {
                        for kx in 0 ..< 3 { gG[i * 3 + kx] = G[i * 3] * g[kx] + G[i * 3 + 1] * g[3 + kx] + G[i * 3 + 2] * g[6 + kx] }
                    }
                    for i in 0 ..< alpha {
                        for j in 0 ..< alpha {
                            u[((i * alpha + j) * C + c) * O + o] = gG[i * 3] * G[j * 3] + gG[i * 3 + 1] * G[j * 3 + 1] + gG[i * 3 + 2] * G[j * 3 + 2]
                        }
                    }
                }
            }
        }
    }

    /// V[ξ] (T, C) for the tiles of `count` images from `images` (each H·W·C):
    /// tile t of image n at row n·tilesPerImage + t, matrices `stride` floats
    /// apart (default T·C, the chunk's own). Bᵀ d B as two passes of
    /// `inputRows` (columns, then rows), sixteen channels at a time.
    func transformInput(_ v: UnsafeMutablePointer<Float>, images: UnsafePointer<Float>, count: Int, stride: Int? = nil) {
        let C = channels, T = count * tilesPerImage, stride = stride ?? T * C
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: 36) { buffer in
            let t = buffer.baseAddress!
            forEachTile(count: count) { n, ty, tx, tile in
                let image = images + n * height * width * C
                let y0 = ty * 4 - padTop, x0 = tx * 4 - padLeft
                let inside = y0 >= 0 && y0 + 6 <= height && x0 >= 0 && x0 + 6 <= width
                forEachChannelVector(C) { c, lanes in
                    @inline(__always) func d(_ a: Int, _ b: Int) -> FloatVector {
                        let y = y0 + a, x = x0 + b
                        guard inside || (y >= 0 && y < height && x >= 0 && x < width) else { return FloatVector(repeating: 0) }
                        return loadVector(image + (y * width + x) * C + c, lanes)
                    }
                    for b in 0 ..< 6 {
                        let r = WinogradConvolution.inputRows(d(0, b), d(1, b), d(2, b), d(3, b), d(4, b), d(5, b))
                        (t[b], t[6 + b], t[12 + b], t[18 + b], t[24 + b], t[30 + b]) = r
                    }
                    let out = v + tile * C + c
                    for a in 0 ..< 6 {
                        let r = WinogradConvolution.inputRows(t[a * 6], t[a * 6 + 1], t[a * 6 + 2], t[a * 6 + 3], t[a * 6 + 4], t[a * 6 + 5])
                        WinogradConvolution.storeRow(r, out + a * 6 * stride, stride: stride, lanes)
                    }
                }
            }
        }
    }

    /// Bᵀ applied to six values (F(4x4, 3x3)'s points 0, ±1, ±2).
    @inline(__always)
    static func inputRows(_ d0: FloatVector, _ d1: FloatVector, _ d2: FloatVector, _ d3: FloatVector, _ d4: FloatVector, _ d5: FloatVector)
        -> (FloatVector, FloatVector, FloatVector, FloatVector, FloatVector, FloatVector) {
        let a = d4 - 4 * d2, b = d3 - 4 * d1, e = d4 - d2, f = 2 * (d3 - d1)
        return (4 * d0 - 5 * d2 + d4, a + b, a - b, e + f, e - f, 4 * d1 - 5 * d3 + d5)
    }

    /// One row of six transformed values, each into its own ξ matrix, `stride` floats apart.
    @inline(__always)
    static func storeRow(_ r: (FloatVector, FloatVector, FloatVector, FloatVector, FloatVector, FloatVector),
                         _ row: UnsafeMutablePointer<Float>, stride: Int, _ lanes: Int) {
        storeVector(r.0, row, lanes)
        storeVector(r.1, row + stride, lanes)
        storeVector(r.2, row + 2 * stride, lanes)
        storeVector(r.3, row + 3 * stride, lanes)
        storeVector(r.4, row + 4 * stride, lanes)
        storeVector(r.5, row + 5 * stride, lanes)
    }

    /// Aᵀ applied to six values.
    @inline(__always)
    static func outputRows(_ m0: FloatVector, _ m1: FloatVector, _ m2: FloatVector, _ m3: FloatVector, _ m4: FloatVector, _ m5: FloatVector)
        -> (FloatVector, FloatVector, FloatVector, FloatVector) {
        let p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4
        return (m0 + p + r, q + 2 * s, p + 4 * r, q + 8 * s + m5)
    }

    /// A applied to four values: the transpose of `outputRows`, for the kernel's gradient.
    @inline(__always)
    static func outputGradientRows(_ e0: FloatVector, _ e1: FloatVector, _ e2: FloatVector, _ e3: FloatVector)
        -> (FloatVector, FloatVector, FloatVector, FloatVector, FloatVector, FloatVector) {
        let p = e0 + e2, q = e1 + e3, r = e0 + 4 * e2, s = 2 * e1 + 8 * e3
        return (e0, p + q, p - q, r + s, r - s, e3)
    }

    /// Calls `body(n, ty, tx, tile)` for every tile of `count` images, tile = n·tilesPerImage + ty·tilesX + tx.
    @inline(__always)
    func forEachTile(count: Int, _ body: (_ n: Int, _ ty: Int, _ tx: Int, _ tile: Int) -> Void) {
        for n in 0 ..< count {
            for ty in 0 ..< tilesY {
                for tx in 0 ..< tilesX { body(n, ty, tx, n * tilesPerImage + ty * tilesX + tx) }
            }
        }
    }

    /// Output tiles Aᵀ M A (+ bias, relu when asked) into `count` images of
    /// (OH, OW, O) at `outputs`, the parts of edge tiles outside the image dropped.
    func transformOutput(_ outputs: UnsafeMutablePointer<Float>, products: UnsafePointer<Float>, count: Int,
                         bias: UnsafePointer<Float>?, relu: Bool) {
        let O = filters, T = count * tilesPerImage, stride = T * O
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: 24) { buffer in
            let t = buffer.baseAddress!
            forEachTile(count: count) { n, ty, tx, tile in
                let image = outputs + n * outputHeight * outputWidth * O
                let rows = min(4, outputHeight - ty * 4), columns = min(4, outputWidth - tx * 4)
                forEachChannelVector(O) { o, lanes in
                    let m = products + tile * O + o
                    @inline(__always) func load(_ xi: Int) -> FloatVector { loadVector(m + xi * stride, lanes) }
                    for b in 0 ..< 6 {
                        let r = WinogradConvolution.outputRows(load(b), load(6 + b), load(12 + b), load(18 + b), load(24 + b), load(30 + b))
                        (t[b], t[6 + b], t[12 + b], t[18 + b]) = r
                    }
                    let base = bias.map { loadVector($0 + o, lanes) } ?? FloatVector(repeating: 0)
                    for i in 0 ..< rows {
                        let r = WinogradConvolution.outputRows(t[i * 6], t[i * 6 + 1], t[i * 6 + 2], t[i * 6 + 3], t[i * 6 + 4], t[i * 6 + 5])
                        let row = image + ((ty * 4 + i) * outputWidth + tx * 4) * O + o
                        @inline(__always) func put(_ j: Int, _ value: FloatVector) {
                            var sum = value + base
                            if relu { sum.replace(with: 0, where: sum .< 0) }
                            storeVector(sum, row + j * O, lanes)
                        }
                        put(0, r.0)
                        if columns > 1 { put(1, r.1) }
                        if columns > 2 { put(2, r.2) }
                        if columns > 3 { put(3, r.3) }
                    }
                }
            }
        }
    }

    // The kernel's gradient, dW = Σ over tiles of (output gradient ⋆ input tile), in
    // Winograd's terms (the same bilinear algorithm, read backwards): with
    // Y = A e Aᵀ for each m x m output-gradient tile e and the forward's V = Bᵀ d B,
    // M[ξ] (C, O) = Σ_tiles V[ξ]ᵀ Y[ξ] (α² sgemm calls, the tiles as the inner
    // dimension), and dW = Gᵀ M G for every (c, o).

    /// Y[ξ] (T, O) = A e Aᵀ for the output-gradient tiles of `count` images of
    /// (OH, OW, O) at `gradients`, zero past the image's edge; matrices T·O apart.
    func transformOutputGradient(_ y: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int) {
        let O = filters, T = count * tilesPerImage, stride = T * O
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: 24) { buffer in
            let t = buffer.baseAddress!
            forEachTile(count: count) { n, ty, tx, tile in
                let image = gradients + n * outputHeight * outputWidth * O
                let rows = min(4, outputHeight - ty * 4), columns = min(4, outputWidth - tx * 4)
                forEachChannelVector(O) { o, lanes in
                    @inline(__always) func e(_ i: Int, _ j: Int) -> FloatVector {
                        guard i < rows, j < columns else { return FloatVector(repeating: 0) }
                        return loadVector(image + ((ty * 4 + i) * outputWidth + tx * 4 + j) * O + o, lanes)
                    }
                    // A e (6 x 4) column by column, then (A e) Aᵀ row by row.
                    for j in 0 ..< 4 {
                        let r = WinogradConvolution.outputGradientRows(e(0, j), e(1, j), e(2, j), e(3, j))
                        (t[j], t[4 + j], t[8 + j], t[12 + j], t[16 + j], t[20 + j]) = r
                    }
                    let out = y + tile * O + o
                    for a in 0 ..< 6 {
                        let r = WinogradConvolution.outputGradientRows(t[a * 4], t[a * 4 + 1], t[a * 4 + 2], t[a * 4 + 3])
                        WinogradConvolution.storeRow(r, out + a * 6 * stride, stride: stride, lanes)
                    }
                }
            }
        }
    }

    /// Rows `rows` of dW (3, 3, C, O), each row r = (ky·3 + kx)·C + c, written to
    /// `gradient` (the kernel's layout) as Gᵀ (Σ M) G: the `count` partial M
    /// (each `kernelSize` floats, like U) `stride` floats apart, added in order.
    func kernelGradient(_ gradient: UnsafeMutablePointer<Float>, partials: UnsafePointer<Float>, count: Int, stride: Int, rows: Range<Int>) {
        let alpha = transform.alpha, C = channels, O = filters, G = transform.kernelMatrix
        for r in rows {
            let ky = r / (3 * C), kx = r / C % 3, c = r % C
            forEachChannelVector(O) { o, lanes in
                var sum = FloatVector(repeating: 0)
                for partial in (0 ..< count).lazy.map({ partials + $0 * stride }) {
                    for i in 0 ..< alpha where G[i * 3 + ky] != 0 {
                        for j in 0 ..< alpha where G[j * 3 + kx] != 0 {
                            let m = loadVector(partial + ((i * alpha + j) * C + c) * O + o, lanes)
                            sum += (G[i * 3 + ky] * G[j * 3 + kx]) * m
                        }
                    }
                }
                storeVector(sum, gradient + r * O + o, lanes)
            }
        }
    }
}
