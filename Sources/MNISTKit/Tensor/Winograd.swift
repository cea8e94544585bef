// Winograd minimal filtering F(m x m, 3 x 3) for stride-1 3x3 convolutions on
// NHWC images (Lavin & Gray, arXiv 1509.09308). Each α x α input tile d
// (α = m + 2, overlapping by 2) becomes V = Bᵀ d B, the kernel g becomes
// U = G g Gᵀ, and the α² element-wise products summed over input channels are
// α² sgemm calls, (tiles x C) · (C x O); each m x m output tile is Aᵀ M A.
// F(4x4) needs 4x fewer multiplications than direct convolution (F(2x2) 2.25x).
// Shapes: C input channels, O output channels, T tiles, ξ = i·α + j indexes
// the α² transformed positions.

/// The transform of F(m x m, 3 x 3): the kernel's matrix G (α x 3), row-major.
/// Bᵀ, Aᵀ and A, applied far more often, are written out in `F4Rows` and `F2Rows`.
struct WinogradTransform: Sendable {
    /// Output tile side.
    let m: Int
    /// Input tile side, m + 2.
    var alpha: Int { m + 2 }
    /// G (α x 3).
    let kernelMatrix: [Float]

    /// F(4x4, 3x3): points 0, ±1, ±2, and infinity; 4x fewer multiplications than direct convolution.
    static let f4 = WinogradTransform(
        m: 4,
        kernelMatrix: [1.0 / 4, 0, 0,
                       -1.0 / 6, -1.0 / 6, -1.0 / 6,
                       -1.0 / 6, 1.0 / 6, -1.0 / 6,
                       1.0 / 24, 1.0 / 12, 1.0 / 6,
                       1.0 / 24, -1.0 / 12, 1.0 / 6,
                       0, 0, 1])

    /// F(2x2, 3x3): points 0, ±1, and infinity; 2.25x fewer multiplications, cheaper transforms,
    /// and 2x2 tiles that cover even-sided outputs exactly.
    static let f2 = WinogradTransform(
        m: 2,
        kernelMatrix: [1, 0, 0,
                       0.5, 0.5, 0.5,
                       0.5, -0.5, 0.5,
                       0, 0, 1])
}

/// One transform's three row operations, written out so that the generic tile
/// loops below compile to straight-line vector code for each.
protocol WinogradRows {
    /// Output tile side m (α = m + 2).
    static var m: Int { get }
    /// Bᵀ applied to α values `d(0) ..< d(α)`, each result i passed to `put(i, value)`.
    static func input(_ d: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void)
    /// Aᵀ applied to α values, m results.
    static func output(_ x: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void)
    /// A applied to m values (the transpose of `output`, for the kernel's gradient), α results.
    static func outputGradient(_ e: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void)
}

enum F4Rows: WinogradRows {
    static var m: Int { 4 }

    @inline(__always)
    static func input(_ d: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (d0, d1, d2, d3, d4, d5) = (d(0), d(1), d(2), d(3), d(4), d(5))
        let a = d4 - 4 * d2, b = d3 - 4 * d1, e = d4 - d2, f = 2 * (d3 - d1)
        put(0, 4 * d0 - 5 * d2 + d4); put(1, a + b); put(2, a - b); put(3, e + f); put(4, e - f); put(5, 4 * d1 - 5 * d3 + d5)
    }

    @inline(__always)
    static func output(_ x: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (m0, m1, m2, m3, m4, m5) = (x(0), x(1), x(2), x(3), x(4), x(5))
        let p = m1 + m2, q = m1 - m2, r = m3 + m4, s = m3 - m4
        put(0, m0 + p + r); put(1, q + 2 * s); put(2, p + 4 * r); put(3, q + 8 * s + m5)
    }

    @inline(__always)
    static func outputGradient(_ e: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3))
        let p = e0 + e2, q = e1 + e3, r = e0 + 4 * e2, s = 2 * e1 + 8 * e3
        put(0, e0); put(1, p + q); put(2, p - q); put(3, r + s); put(4, r - s); put(5, e3)
    }
}

enum F2Rows: WinogradRows {
    static var m: Int { 2 }

    @inline(__always)
    static func input(_ d: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3))
        put(0, d0 - d2); put(1, d1 + d2); put(2, d2 - d1); put(3, d1 - d3)
    }

    @inline(__always)
    static func output(_ x: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (m0, m1, m2, m3) = (x(0), x(1), x(2), x(3))
        put(0, m0 + m1 + m2); put(1, m1 - m2 - m3)
    }

    @inline(__always)
    static func outputGradient(_ e: (Int) -> FloatVector, _ put: (Int, FloatVector) -> Void) {
        let (e0, e1) = (e(0), e(1))
        put(0, e0); put(1, e0 + e1); put(2, e0 - e1); put(3, -e1)
    }
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
    /// Images per chunk: about 4608 / α² tiles (128 of F(4x4)'s, 288 of F(2x2)'s),
    /// enough rows for sgemm to run at speed and few enough that a chunk's
    /// transformed tiles and products (4608·(C + O) floats, 1.8 MB for 32 in and
    /// 64 out) stay near the core's 1 MB L2: measured in one process on mnist-cnn,
    /// a step took 4-9% longer with 512 of F(4x4)'s tiles.
    var chunk: Int { max(1, 4608 / (transform.alpha * transform.alpha * tilesPerImage)) }
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
        // Sixteen filters at a time; the flipped kernel's filters are C floats apart, gathered lane by lane.
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: 9 + 3 * alpha) { buffer in
            let g = buffer.baseAddress!, gG = g + 9
            for c in rows {
                forEachChannelVector(O) { o, lanes in
                    for tap in 0 ..< 9 {
                        if flipped {
                            var taps = FloatVector(repeating: 0)
                            for lane in 0 ..< lanes { taps[lane] = kernel[(8 - tap) * O * C + (o + lane) * storedOutputs + c] }
                            g[tap] = taps
                        } else {
                            g[tap] = loadVector(kernel + tap * C * O + c * storedOutputs + o, lanes)
                        }
                    }
                    // G g (α x 3), then (G g) Gᵀ.
                    for i in 0 ..< alpha {
                        for kx in 0 ..< 3 { gG[i * 3 + kx] = G[i * 3] * g[kx] + G[i * 3 + 1] * g[3 + kx] + G[i * 3 + 2] * g[6 + kx] }
                    }
                    for i in 0 ..< alpha {
                        for j in 0 ..< alpha {
                            let value = G[j * 3] * gG[i * 3] + G[j * 3 + 1] * gG[i * 3 + 1] + G[j * 3 + 2] * gG[i * 3 + 2]
                            storeVector(value, u + ((i * alpha + j) * C + c) * O + o, lanes)
                        }
                    }
                }
            }
        }
    }

    /// V[ξ] (T, C) for the tiles of `count` images from `images` (each H·W·C):
    /// tile t of image n at row n·tilesPerImage + t, matrices `stride` floats
    /// apart (default T·C, the chunk's own). Bᵀ d B as two passes of Bᵀ
    /// (columns, then rows), sixteen channels at a time.
    func transformInput(_ v: UnsafeMutablePointer<Float>, images: UnsafePointer<Float>, count: Int, stride: Int? = nil) {
        switch transform.m {
        case 4: transformInput(F4Rows.self, v, images: images, count: count, stride: stride ?? count * tilesPerImage * channels)
        default: transformInput(F2Rows.self, v, images: images, count: count, stride: stride ?? count * tilesPerImage * channels)
        }
    }

    private func transformInput<R: WinogradRows>(_: R.Type, _ v: UnsafeMutablePointer<Float>, images: UnsafePointer<Float>, count: Int, stride: Int) {
        let C = channels, m = R.m, alpha = R.m + 2, (H, W) = (height, width)
        // The tiles read a (tilesY·m + 2) x (tilesX·m + 2) region from (-padTop, -padLeft).
        let (regionH, regionW) = (tilesY * m + 2, tilesX * m + 2)
        let inside = padTop == 0 && padLeft == 0 && regionH <= H && regionW <= W
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: 2 * alpha * alpha) { buffer in
            let t = buffer.baseAddress!, edge = t + alpha * alpha
            /// Bᵀ d B for one tile and vector of channels, d's rows `rowStep` floats apart from `corner`;
            /// the α² results `stride` floats apart from `out`. Whole vectors, no bounds: the common case.
            /// (Wrapping index arithmetic: this runs per tile and vector, and every index is in range.)
            @inline(__always) func transformTile(_ corner: UnsafePointer<Float>, rowStep: Int, _ out: UnsafeMutablePointer<Float>) {
                for b in 0 ..< alpha {
                    let column = corner + b &* C
                    R.input({ loadVector(column + $0 &* rowStep) }, { t[$0 &* alpha &+ b] = $1 })
                }
                for a in 0 ..< alpha {
                    let row = out + a &* alpha &* stride, transformed = t + a &* alpha
                    R.input({ transformed[$0] }, { storeVector($1, row + $0 &* stride) })
                }
            }
            guard C % FloatVector.scalarCount == 0 else {
                // Channels in a short vector too: each tile with zeros past the edge, from `edge`.
                forEachTile(count: count) { n, ty, tx, tile in
                    let image = images + n * H * W * C, y0 = ty * m - padTop, x0 = tx * m - padLeft
                    forEachChannelVector(C) { c, lanes in
                        for a in 0 ..< alpha {
                            for b in 0 ..< alpha {
                                let y = y0 + a, x = x0 + b
                                edge[a * alpha + b] = y >= 0 && y < H && x >= 0 && x < W ? loadVector(image + (y * W + x) * C + c, lanes) : FloatVector(repeating: 0)
                            }
                        }
                        let out = v + tile * C + c
                        for b in 0 ..< alpha { R.input({ edge[$0 * alpha + b] }, { t[$0 * alpha + b] = $1 }) }
                        for a in 0 ..< alpha { R.input({ t[a * alpha + $0] }, { storeVector($1, out + (a * alpha + $0) * stride, lanes) }) }
                    }
                }
                return
            }
            // Tiles over the edge read a zero-padded copy of each image (the region, a few KB),
            // so that every tile takes the same straight path.
            withTemporaryFloats(if: !inside, count: regionH * regionW * C) { padded in
                padded?.initialize(repeating: 0, count: regionH * regionW * C)
                let copiedRows = min(H, regionH - padTop), copiedWidth = min(W, regionW - padLeft) * C
                for n in 0 ..< count {
                    var source = images + n * H * W * C, sourceWidth = W
                    if let padded {
                        for y in 0 ..< copiedRows {
                            (padded + ((y + padTop) * regionW + padLeft) * C).update(from: source + y * W * C, count: copiedWidth)
                        }
                        (source, sourceWidth) = (UnsafePointer(padded), regionW)
                    }
                    let rowStep = sourceWidth * C
                    for ty in 0 ..< tilesY {
                        for tx in 0 ..< tilesX {
                            let tile = n * tilesPerImage + ty * tilesX + tx, corner = source + (ty * m * sourceWidth + tx * m) * C
                            for c in Swift.stride(from: 0, to: C, by: FloatVector.scalarCount) { transformTile(corner + c, rowStep: rowStep, v + tile * C + c) }
                        }
                    }
                }
            }
        }
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
        switch transform.m {
        case 4: transformOutput(F4Rows.self, outputs, products: products, count: count, bias: bias, relu: relu)
        default: transformOutput(F2Rows.self, outputs, products: products, count: count, bias: bias, relu: relu)
        }
    }

    private func transformOutput<R: WinogradRows>(_: R.Type, _ outputs: UnsafeMutablePointer<Float>, products: UnsafePointer<Float>, count: Int,
                                                  bias: UnsafePointer<Float>?, relu: Bool) {
        let O = filters, stride = count * tilesPerImage * O, m = R.m, alpha = R.m + 2, (OH, OW) = (outputHeight, outputWidth)
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: m * alpha) { buffer in
            let t = buffer.baseAddress!
            guard O % FloatVector.scalarCount == 0 else {
                // Channels in a short vector too: edge tiles drop what falls outside the image.
                forEachTile(count: count) { n, ty, tx, tile in
                    let image = outputs + n * OH * OW * O
                    let rows = min(m, OH - ty * m), columns = min(m, OW - tx * m)
                    forEachChannelVector(O) { o, lanes in
                        let products = products + tile * O + o
                        let base = bias.map { loadVector($0 + o, lanes) } ?? FloatVector(repeating: 0)
                        // Aᵀ M (m x α) column by column, then (Aᵀ M) A row by row.
                        for b in 0 ..< alpha { R.output({ loadVector(products + ($0 * alpha + b) * stride, lanes) }, { t[$0 * alpha + b] = $1 }) }
                        for i in 0 ..< rows {
                            let row = image + ((ty * m + i) * OW + tx * m) * O + o
                            R.output({ t[i * alpha + $0] }) { j, value in
                                guard j < columns else { return }
                                var sum = value + base
                                if relu { sum.replace(with: 0, where: sum .< 0) }
                                storeVector(sum, row + j * O, lanes)
                            }
                        }
                    }
                }
                return
            }
            // Whole vectors: every tile written whole, with straight loads and stores and wrapping
            // index arithmetic (every index is in range); where tiles pass the image's edge, into a
            // (tilesY·m) x (tilesX·m) region whose image part is then copied out.
            let (regionH, regionW) = (tilesY * m, tilesX * m)
            withTemporaryFloats(if: regionH != OH || regionW != OW, count: regionH * regionW * O) { region in
                for n in 0 ..< count {
                    let image = outputs + n * OH * OW * O, target = region ?? image
                    for ty in 0 ..< tilesY {
                        for tx in 0 ..< tilesX {
                            let tile = n * tilesPerImage + ty * tilesX + tx, corner = target + (ty * m * regionW + tx * m) * O
                            for o in Swift.stride(from: 0, to: O, by: FloatVector.scalarCount) {
                                let tileProducts = products + (tile &* O &+ o), base = bias.map { loadVector($0 + o) } ?? FloatVector(repeating: 0)
                                for b in 0 ..< alpha {
                                    let column = tileProducts + b &* stride
                                    R.output({ loadVector(column + $0 &* alpha &* stride) }, { t[$0 &* alpha &+ b] = $1 })
                                }
                                for i in 0 ..< m {
                                    let row = corner + (i &* regionW &* O &+ o), transformed = t + i &* alpha
                                    R.output({ transformed[$0] }) { j, value in
                                        var sum = value + base
                                        if relu { sum.replace(with: 0, where: sum .< 0) }
                                        storeVector(sum, row + j &* O)
                                    }
                                }
                            }
                        }
                    }
                    if let region {
                        for y in 0 ..< OH { (image + y * OW * O).update(from: region + y * regionW * O, count: OW * O) }
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
        switch transform.m {
        case 4: transformOutputGradient(F4Rows.self, y, gradients: gradients, count: count)
        default: transformOutputGradient(F2Rows.self, y, gradients: gradients, count: count)
        }
    }

    private func transformOutputGradient<R: WinogradRows>(_: R.Type, _ y: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int) {
        let O = filters, stride = count * tilesPerImage * O, m = R.m, alpha = R.m + 2, (OH, OW) = (outputHeight, outputWidth)
        withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: m * alpha) { buffer in
            let t = buffer.baseAddress!
            guard O % FloatVector.scalarCount == 0 else {
                // Channels in a short vector too: zero past the image's edge, element by element.
                forEachTile(count: count) { n, ty, tx, tile in
                    let image = gradients + n * OH * OW * O
                    let rows = min(m, OH - ty * m), columns = min(m, OW - tx * m)
                    forEachChannelVector(O) { o, lanes in
                        @inline(__always) func e(_ i: Int, _ j: Int) -> FloatVector {
                            guard i < rows, j < columns else { return FloatVector(repeating: 0) }
                            return loadVector(image + ((ty * m + i) * OW + tx * m + j) * O + o, lanes)
                        }
                        // A e (α x m) column by column, then (A e) Aᵀ row by row.
                        for j in 0 ..< m { R.outputGradient({ e($0, j) }, { t[$0 * m + j] = $1 }) }
                        let out = y + tile * O + o
                        for a in 0 ..< alpha {
                            R.outputGradient({ t[a * m + $0] }, { storeVector($1, out + (a * alpha + $0) * stride, lanes) })
                        }
                    }
                }
                return
            }
            // Whole vectors: straight loads and stores, wrapping index arithmetic; where tiles pass
            // the image's edge, from a zero-padded (tilesY·m) x (tilesX·m) copy of each image.
            let (regionH, regionW) = (tilesY * m, tilesX * m)
            withTemporaryFloats(if: regionH != OH || regionW != OW, count: regionH * regionW * O) { region in
                region?.initialize(repeating: 0, count: regionH * regionW * O)
                for n in 0 ..< count {
                    var source = gradients + n * OH * OW * O
                    if let region {
                        for row in 0 ..< OH { (region + row * regionW * O).update(from: source + row * OW * O, count: OW * O) }
                        source = UnsafePointer(region)
                    }
                    let rowStep = (region == nil ? OW : regionW) * O
                    for ty in 0 ..< tilesY {
                        for tx in 0 ..< tilesX {
                            let tile = n * tilesPerImage + ty * tilesX + tx, corner = source + (ty * m * rowStep + tx * m * O)
                            for o in Swift.stride(from: 0, to: O, by: FloatVector.scalarCount) {
                                for j in 0 ..< m {
                                    let column = corner + (j &* O &+ o)
                                    R.outputGradient({ loadVector(column + $0 &* rowStep) }, { t[$0 &* m &+ j] = $1 })
                                }
                                let out = y + (tile &* O &+ o)
                                for a in 0 ..< alpha {
                                    let row = out + a &* alpha &* stride, transformed = t + a &* m
                                    R.outputGradient({ transformed[$0] }, { storeVector($1, row + $0 &* stride) })
                                }
                            }
                        }
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

/// Runs `body` with `count` floats of temporary memory (on the stack when it fits)
/// when `needed`, else with nil: the edge tiles' padded copies, without a heap
/// allocation per chunk.
@inline(__always)
private func withTemporaryFloats(if needed: Bool, count: Int, _ body: (UnsafeMutablePointer<Float>?) -> Void) {
    guard needed else { return body(nil) }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { body($0.baseAddress!) }
}
