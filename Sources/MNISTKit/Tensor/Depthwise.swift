// Depthwise convolution by direct loops, one image at a time: each input
// channel c convolved with its own dm filters into output channels c·dm + m
// (TensorFlow's order). Shapes: image (H, W, C), kernel (kh, kw, C, dm) as
// Keras stores it, output (OH, OW, C·dm). Each window's product is a run over
// the channels, contiguous in the image, the kernel and the output alike.
// There is no sgemm to hand this to: every channel has its own small kernel.

/// Calls `body(p, pixel, tap)` for each output position p and each kernel tap
/// (ky·kw + kx) of its window that falls inside the image, at input pixel y·W + x.
@inline(__always)
func forEachTap(_ g: Window2D, _ body: (_ p: Int, _ pixel: Int, _ tap: Int) -> Void) {
    g.forEachWindow { p, y0, x0 in
        for y in max(y0, 0) ..< min(y0 + g.kernelHeight, g.height) {
            for x in max(x0, 0) ..< min(x0 + g.kernelWidth, g.width) { body(p, y * g.width + x, (y - y0) * g.kernelWidth + (x - x0)) }
        }
    }
}

/// out (P, C·dm) = the image's windows times the kernel, over zeros.
func depthwiseForward(_ out: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                      multiplier dm: Int, _ g: Window2D) {
    let C = g.channels, J = C * dm
    out.update(repeating: 0, count: g.positions * J)
    forEachTap(g) { p, pixel, tap in
        let o = out + p * J, v = image + pixel * C, k = kernel + tap * J
        if dm == 1 {
            for c in 0 ..< C { o[c] += v[c] * k[c] }
        } else {
            for c in 0 ..< C { for m in 0 ..< dm { o[c * dm + m] += v[c] * k[c * dm + m] } }
        }
    }
}

/// dinp (H, W, C) = the output gradient (P, C·dm) spread back through the kernel; dinp is overwritten.
func depthwiseInputGradient(_ dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                            multiplier dm: Int, _ g: Window2D) {
    let C = g.channels, J = C * dm
    dinp.update(repeating: 0, count: g.inputSize)
    forEachTap(g) { p, pixel, tap in
        let d = dout + p * J, v = dinp + pixel * C, k = kernel + tap * J
        if dm == 1 {
            for c in 0 ..< C { v[c] += d[c] * k[c] }
        } else {
            for c in 0 ..< C { for m in 0 ..< dm { v[c] += d[c * dm + m] * k[c * dm + m] } }
        }
    }
}

/// dkernel (kh, kw, C, dm) += the image's windows times the output gradient.
func depthwiseKernelGradient(_ dkernel: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                             multiplier dm: Int, _ g: Window2D) {
    let C = g.channels, J = C * dm
    forEachTap(g) { p, pixel, tap in
        let d = dout + p * J, v = image + pixel * C, k = dkernel + tap * J
        if dm == 1 {
            for c in 0 ..< C { k[c] += v[c] * d[c] }
        } else {
            for c in 0 ..< C { for m in 0 ..< dm { k[c * dm + m] += v[c] * d[c * dm + m] } }
        }
    }
}
