// Sliding windows over NHWC images: the geometry Keras' "valid" and "same"
// padding give, and im2col/col2im, which turn a convolution into one sgemm.

/// Keras' padding modes: `valid` (no padding) and `same` (output size ceil(input / stride)).
public enum Padding: String, CaseIterable, Sendable { case valid, same }

/// A window of kh x kw sliding with strides (sy, sx) over an H x W x C image.
/// "same" pads so that the output is ceil(H / sy) x ceil(W / sx), the extra
/// row or column at the bottom and right (as TensorFlow does).
struct Window2D: Equatable, Sendable {
    var height = 0, width = 0, channels = 0
    var kernelHeight = 1, kernelWidth = 1
    var strideY = 1, strideX = 1
    var padTop = 0, padLeft = 0
    var outputHeight = 0, outputWidth = 0

    init() {}

    init(height: Int, width: Int, channels: Int, kernel: [Int], strides: [Int], padding: Padding) {
        (self.height, self.width, self.channels) = (height, width, channels)
        (kernelHeight, kernelWidth, strideY, strideX) = (kernel[0], kernel[1], strides[0], strides[1])
        func resolve(_ size: Int, _ k: Int, _ s: Int) -> (output: Int, before: Int) {
            switch padding {
            case .valid: return (size >= k ? (size - k) / s + 1 : 0, 0)
            case .same:
                let output = (size + s - 1) / s
                return (output, max((output - 1) * s + k - size, 0) / 2)
            }
        }
        (outputHeight, padTop) = resolve(height, kernelHeight, strideY)
        (outputWidth, padLeft) = resolve(width, kernelWidth, strideX)
    }

    var inputSize: Int { height * width * channels }
    /// Output positions per image.
    var positions: Int { outputHeight * outputWidth }
    /// Values in one window: one row of the im2col matrix.
    var patchSize: Int { kernelHeight * kernelWidth * channels }

    /// The rows (input y) window row `oy` covers, clipped to the image.
    @inline(__always) func rows(_ oy: Int) -> Range<Int> {
        let y0 = oy * strideY - padTop
        return max(y0, 0) ..< min(y0 + kernelHeight, height)
    }

    /// Calls `body(p, y0, x0)` for each output position p = oy·OW + ox, in
    /// order, with its window's top-left input pixel (negative over the edge).
    @inline(__always) func forEachWindow(_ body: (_ p: Int, _ y0: Int, _ x0: Int) -> Void) {
        for oy in 0 ..< outputHeight {
            let y0 = oy * strideY - padTop
            for ox in 0 ..< outputWidth { body(oy * outputWidth + ox, y0, ox * strideX - padLeft) }
        }
    }

    @inline(__always) func columns(_ ox: Int) -> Range<Int> {
        let x0 = ox * strideX - padLeft
        return max(x0, 0) ..< min(x0 + kernelWidth, width)
    }
}

/// cols (P, kh·kw·C) from one image (H, W, C): row p = oy·OW + ox holds the
/// window at (oy, ox), column (ky·kw + kx)·C + c, zero where it hangs over the
/// edge. The column order matches a Keras kernel (kh, kw, C, O) read as (kh·kw·C, O).
func im2col(_ cols: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, _ g: Window2D) {
    let C = g.channels, rowLength = g.kernelWidth * C
    g.forEachWindow { p, y0, x0 in
        var dst = cols + p * g.patchSize
        let inside = x0 >= 0 && x0 + g.kernelWidth <= g.width
        for ky in 0 ..< g.kernelHeight {
            let y = y0 + ky
            if y < 0 || y >= g.height {
                dst.update(repeating: 0, count: rowLength)
            } else if inside {
                // The window's row is contiguous in NHWC.
                copyRow(dst, image + (y * g.width + x0) * C, rowLength)
            } else {
                for kx in 0 ..< g.kernelWidth {
                    let x = x0 + kx
                    if x < 0 || x >= g.width {
                        (dst + kx * C).update(repeating: 0, count: C)
                    } else {
                        copyRow(dst + kx * C, image + (y * g.width + x) * C, C)
                    }
                }
            }
            dst += rowLength
        }
    }
}

/// im2col's transpose for one-channel images: row k = ky·kw + kx of `colsT`
/// (rows `rowStride` apart) gets, at this image's P columns, the input pixel
/// each window position sees at (ky, kx), zero over the edge. With one channel
/// these are runs of a whole output row from one input row, so a 5x5 kernel
/// copies 25·OH runs of OW values instead of OH·OW·5 runs of 5.
func im2colTransposed(_ colsT: UnsafeMutablePointer<Float>, rowStride: Int, _ image: UnsafePointer<Float>, _ g: Window2D) {
    precondition(g.channels == 1, "im2colTransposed is for one-channel images")
    let OW = g.outputWidth
    for ky in 0 ..< g.kernelHeight {
        for kx in 0 ..< g.kernelWidth {
            let row = colsT + (ky * g.kernelWidth + kx) * rowStride
            for oy in 0 ..< g.outputHeight {
                let y = oy * g.strideY + ky - g.padTop, dst = row + oy * OW
                guard y >= 0 && y < g.height else { dst.update(repeating: 0, count: OW); continue }
                let source = image + y * g.width
                if g.strideX == 1 {
                    // Output columns whose pixel x = ox + kx - padLeft lies inside: one run.
                    let first = min(max(g.padLeft - kx, 0), OW), end = max(min(g.width + g.padLeft - kx, OW), first)
                    dst.update(repeating: 0, count: first)
                    (dst + first).update(from: source + first + kx - g.padLeft, count: end - first)
                    (dst + end).update(repeating: 0, count: OW - end)
                } else {
                    for ox in 0 ..< OW {
                        let x = ox * g.strideX + kx - g.padLeft
                        dst[ox] = x >= 0 && x < g.width ? source[x] : 0
                    }
                }
            }
        }
    }
}

/// image (H, W, C) += the windows of cols (P, kh·kw·C), im2col's adjoint.
func col2im(_ image: UnsafeMutablePointer<Float>, _ cols: UnsafePointer<Float>, _ g: Window2D) {
    let C = g.channels, rowLength = g.kernelWidth * C
    g.forEachWindow { p, y0, x0 in
        var src = cols + p * g.patchSize
        for ky in 0 ..< g.kernelHeight {
            let y = y0 + ky
            if y >= 0 && y < g.height {
                for kx in 0 ..< g.kernelWidth {
                    let x = x0 + kx
                    guard x >= 0 && x < g.width else { continue }
                    let target = image + (y * g.width + x) * C, source = src + kx * C
                    for c in 0 ..< C { target[c] += source[c] }
                }
            }
            src += rowLength
        }
    }
}

/// dst[0 ..< n] = src[0 ..< n] for a window's row (3 to a few hundred values),
/// in registers: a memmove call costs more than such a copy.
@inline(__always)
private func copyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var k = 0
    while k + FloatVector.scalarCount <= n {
        storeVector(loadVector(src + k), dst + k)
        k += FloatVector.scalarCount
    }
    while k < n {
        dst[k] = src[k]
        k += 1
    }
}
