// Direct convolution of a one-channel image (the first layer on gray images),
// forward and kernel gradient. Its windows hold only K = kh·kw values (9, 25),
// so im2col's columns are K times the image and sgemm's (positions, K) by
// (K, O) products too thin to run at speed: measured in one process on
// mnist-fast's 5x5 layer, im2col and sgemm took 2.2x as long as these loops
// forward and 1.3x for the kernel's gradient (docs/PERFORMANCE.md).
// Filters go sixteen to a vector; four output positions along a row share each
// kernel load (forward) or each gradient update (kernel gradient), so four
// fused multiply-adds are in flight. Positions whose window crosses the
// image's edge take a checked loop.

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

/// out (P, O) = the convolution of one (H, W, 1) image with `kernel` (kh, kw, 1, O),
/// plus `bias`, then relu when asked.
func directConvolution(_ out: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, relu: Bool, filters O: Int, _ g: Window2D) {
    let (kh, kw, H, W, sx) = (g.kernelHeight, g.kernelWidth, g.height, g.width, g.strideX)
    withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: kh * kw) { buffer in
        let weights = buffer.baseAddress!
        forEachChannelVector(O) { o, lanes in
            // This vector's kernel values, whole vectors (zero past `lanes`) for the inner loops.
            for k in 0 ..< kh * kw { weights[k] = loadVector(kernel + k * O + o, lanes) }
            let base = bias.map { loadVector($0 + o, lanes) } ?? FloatVector(repeating: 0)
            @inline(__always) func put(_ p: Int, _ sum: FloatVector) {
                var sum = sum
                if relu { sum.replace(with: 0, where: sum .< 0) }
                storeVector(sum, out + p * O + o, lanes)
            }
            for oy in 0 ..< g.outputHeight {
                let y0 = oy * g.strideY - g.padTop, (lower, upper) = interiorColumns(g, oy)
                @inline(__always) func checked(_ ox: Int) {
                    var sum = base
                    let x0 = ox * sx - g.padLeft
                    for ky in 0 ..< kh where y0 + ky >= 0 && y0 + ky < H {
                        for kx in 0 ..< kw where x0 + kx >= 0 && x0 + kx < W {
                            sum = sum.addingProduct(image[(y0 + ky) * W + x0 + kx], weights[ky * kw + kx])
                        }
                    }
                    put(oy * g.outputWidth + ox, sum)
                }
                var ox = 0
                while ox < lower { checked(ox); ox += 1 }
                while ox + 4 <= upper {
                    var (s0, s1, s2, s3) = (base, base, base, base)
                    for ky in 0 ..< kh {
                        let row = image + (y0 + ky) * W + ox * sx - g.padLeft, rowWeights = weights + ky * kw
                        for kx in 0 ..< kw {
                            let w = rowWeights[kx]
                            s0 = s0.addingProduct(row[kx], w)
                            s1 = s1.addingProduct(row[kx + sx], w)
                            s2 = s2.addingProduct(row[kx + 2 * sx], w)
                            s3 = s3.addingProduct(row[kx + 3 * sx], w)
                        }
                    }
                    let p = oy * g.outputWidth + ox
                    put(p, s0); put(p + 1, s1); put(p + 2, s2); put(p + 3, s3)
                    ox += 4
                }
                while ox < g.outputWidth { checked(ox); ox += 1 }
            }
        }
    }
}

/// dkernel (kh, kw, 1, O) += Σ over positions of the window's pixels times dout (P, O),
/// for one (H, W, 1) image.
func directKernelGradient(_ dkernel: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                          filters O: Int, _ g: Window2D) {
    let (kh, kw, H, W, sx) = (g.kernelHeight, g.kernelWidth, g.height, g.width, g.strideX)
    withUnsafeTemporaryAllocation(of: FloatVector.self, capacity: kh * kw) { buffer in
        let sums = buffer.baseAddress!
        forEachChannelVector(O) { o, lanes in
            // Whole vectors for the inner loops, added to dkernel's `lanes` at the end.
            sums.initialize(repeating: FloatVector(repeating: 0), count: kh * kw)
            for oy in 0 ..< g.outputHeight {
                let y0 = oy * g.strideY - g.padTop, (lower, upper) = interiorColumns(g, oy)
                @inline(__always) func checked(_ ox: Int) {
                    let d = loadVector(dout + (oy * g.outputWidth + ox) * O + o, lanes), x0 = ox * sx - g.padLeft
                    for ky in 0 ..< kh where y0 + ky >= 0 && y0 + ky < H {
                        for kx in 0 ..< kw where x0 + kx >= 0 && x0 + kx < W {
                            sums[ky * kw + kx] = sums[ky * kw + kx].addingProduct(image[(y0 + ky) * W + x0 + kx], d)
                        }
                    }
                }
                var ox = 0
                while ox < lower { checked(ox); ox += 1 }
                while ox + 4 <= upper {
                    let p = oy * g.outputWidth + ox
                    let d0 = loadVector(dout + p * O + o, lanes), d1 = loadVector(dout + (p + 1) * O + o, lanes)
                    let d2 = loadVector(dout + (p + 2) * O + o, lanes), d3 = loadVector(dout + (p + 3) * O + o, lanes)
                    for ky in 0 ..< kh {
                        let row = image + (y0 + ky) * W + ox * sx - g.padLeft, rowSums = sums + ky * kw
                        for kx in 0 ..< kw {
                            var sum = rowSums[kx]
                            sum = sum.addingProduct(row[kx], d0)
                            sum = sum.addingProduct(row[kx + sx], d1)
                            sum = sum.addingProduct(row[kx + 2 * sx], d2)
                            sum = sum.addingProduct(row[kx + 3 * sx], d3)
                            rowSums[kx] = sum
                        }
                    }
                    ox += 4
                }
                while ox < g.outputWidth { checked(ox); ox += 1 }
            }
            for k in 0 ..< kh * kw { storeVector(loadVector(dkernel + k * O + o, lanes) + sums[k], dkernel + k * O + o, lanes) }
        }
    }
}
