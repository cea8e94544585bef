// Branch-free element-wise kernels for the hot path. Written with SIMD vectors:
// a scalar `x > 0 ? a : 0` compiles to a branch per element, which on a relu's
// random sign pattern mispredicts about half the time (measured: 14x slower).

typealias FloatVector = SIMD16<Float>

@inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>) -> FloatVector {
    UnsafeRawPointer(pointer).loadUnaligned(as: FloatVector.self)
}

@inline(__always)
func storeVector(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: FloatVector.self)
}

/// The largest value of a pooling window so far and its position in the window
/// (as a float); a strictly larger value replaces, so the first maximum wins ties.
/// Kept as pure values: `replace(with:where:)` on variables that a nested function
/// updates compiled to a branch and a store per lane (measured: the fused
/// convolution's pooling took longer than its convolution).
struct WindowMaximum {
    var value = FloatVector(repeating: -.infinity), position = FloatVector(repeating: 0)

    @inline(__always)
    func considering(_ candidate: FloatVector, at k: Float) -> WindowMaximum {
        let larger = candidate .> value
        return WindowMaximum(value: value.replacing(with: candidate, where: larger),
                             position: position.replacing(with: FloatVector(repeating: k), where: larger))
    }
}

/// The first `width` lanes (up to sixteen) from `pointer`, zero beyond: channel
/// loops take sixteen at a time and the remainder in one short vector.
@inline(__always)
func loadVector(_ pointer: UnsafePointer<Float>, _ width: Int) -> FloatVector {
    if width == FloatVector.scalarCount { return loadVector(pointer) }
    // Eight and four lanes at a time, then single ones: a 24-channel image's
    // tail of 8 is one load, not eight.
    let raw = UnsafeRawPointer(pointer)
    var vector = FloatVector(repeating: 0)
    var lane = 0
    if width >= 8 {
        vector.lowHalf = raw.loadUnaligned(as: SIMD8<Float>.self)
        lane = 8
    }
    if width - lane >= 4 {
        let quad = raw.loadUnaligned(fromByteOffset: 4 * lane, as: SIMD4<Float>.self)
        if lane == 0 { vector.lowHalf.lowHalf = quad } else { vector.highHalf.lowHalf = quad }
        lane += 4
    }
    while lane < width {
        vector[lane] = pointer[lane]
        lane += 1
    }
    return vector
}

@inline(__always)
func storeVector(_ value: FloatVector, _ pointer: UnsafeMutablePointer<Float>, _ width: Int) {
    if width == FloatVector.scalarCount { return storeVector(value, pointer) }
    let raw = UnsafeMutableRawPointer(pointer)
    var lane = 0
    if width >= 8 {
        raw.storeBytes(of: value.lowHalf, as: SIMD8<Float>.self)
        lane = 8
    }
    if width - lane >= 4 {
        raw.storeBytes(of: lane == 0 ? value.lowHalf.lowHalf : value.highHalf.lowHalf, toByteOffset: 4 * lane, as: SIMD4<Float>.self)
        lane += 4
    }
    while lane < width {
        pointer[lane] = value[lane]
        lane += 1
    }
}

/// Calls `body(c, width)` for channels c ..< c + width, sixteen at a time.
@inline(__always)
func forEachChannelVector(_ C: Int, _ body: (_ c: Int, _ width: Int) -> Void) {
    var c = 0
    while c < C {
        body(c, min(FloatVector.scalarCount, C - c))
        c += FloatVector.scalarCount
    }
}

/// out[k] = max(inp[k] + bias[k], 0) for k < n; `out` may be `inp`; nil bias adds nothing.
@inline(__always)
func biasRelu(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, bias: UnsafePointer<Float>?, n: Int) {
    var k = 0
    let zero = FloatVector(repeating: 0)
    while k + FloatVector.scalarCount <= n {
        var v = loadVector(inp + k)
        if let bias { v += loadVector(bias + k) }
        storeVector(v.replacing(with: zero, where: v .< zero), out + k)
        k += FloatVector.scalarCount
    }
    while k < n {
        let v = inp[k] + (bias?[k] ?? 0)
        out[k] = v < 0 ? 0 : v
        k += 1
    }
}

/// dinp[k] = out[k] > 0 ? dout[k] : 0 (relu's backward from its output); `dinp` may be `dout`.
@inline(__always)
func reluBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, n: Int) {
    var k = 0
    let zero = FloatVector(repeating: 0)
    while k + FloatVector.scalarCount <= n {
        storeVector(zero.replacing(with: loadVector(dout + k), where: loadVector(out + k) .> zero), dinp + k)
        k += FloatVector.scalarCount
    }
    while k < n {
        dinp[k] = out[k] > 0 ? dout[k] : 0
        k += 1
    }
}

/// sums[j] = Σ_r rows[r * stride + j] for j < n, the rows added in order (as a
/// scalar loop would, so the bits match it). Sixteen columns at a time: with
/// `sums` and `rows` possibly aliased, the scalar loop does not vectorise. Up to
/// 64 columns share one pass down the rows: a pass per sixteen columns over a
/// convolution's output gradient (megabytes, past L2) ran at memory's latency.
@inline(__always)
func columnSums(_ sums: UnsafeMutablePointer<Float>, rows: UnsafePointer<Float>, B: Int, stride: Int, n: Int) {
    let lanes = FloatVector.scalarCount, zero = FloatVector(repeating: 0)
    var j = 0
    while j + 4 * lanes <= n {
        var (s0, s1, s2, s3) = (zero, zero, zero, zero)
        for r in 0 ..< B {
            let row = rows + r * stride + j
            s0 += loadVector(row); s1 += loadVector(row + lanes); s2 += loadVector(row + 2 * lanes); s3 += loadVector(row + 3 * lanes)
        }
        storeVector(s0, sums + j); storeVector(s1, sums + j + lanes); storeVector(s2, sums + j + 2 * lanes); storeVector(s3, sums + j + 3 * lanes)
        j += 4 * lanes
    }
    while j + lanes <= n {
        var sum = zero
        for r in 0 ..< B { sum += loadVector(rows + r * stride + j) }
        storeVector(sum, sums + j)
        j += lanes
    }
    if j < n {
        // The last n - j columns as one short vector: each lane still sums its
        // column in row order, so the bits are the scalar loop's.
        let width = n - j
        var sum = zero
        for r in 0 ..< B { sum += loadVector(rows + r * stride + j, width) }
        storeVector(sum, sums + j, width)
    }
}

/// Rows of `out` (`rows` of `n` values, `stride` apart) = activation(row + bias),
/// in place: the pass after a layer's sgemm. Softmax needs whole rows (n = width).
/// `keeping` receives row + bias, laid out as `out`, for an activation that `needsInput`.
@inline(__always)
func biasActivation(_ out: UnsafeMutablePointer<Float>, rows: Int, stride: Int, n: Int, bias: UnsafePointer<Float>?, activation: Activation,
                    keeping input: UnsafeMutablePointer<Float>? = nil) {
    for r in 0 ..< rows {
        let row = out + r * stride
        if activation == .relu {
            biasRelu(out: row, inp: row, bias: bias, n: n)
            continue
        }
        if let bias { for o in 0 ..< n { row[o] += bias[o] } }
        if let input { (input + r * stride).update(from: row, count: n) }
        activationForward(out: row, inp: row, B: 1, C: n, activation: activation)
    }
}

/// Index of the largest value (the first on ties, like NumPy).
@inline(__always)
func argmaxRow(_ row: UnsafePointer<Float>, _ C: Int) -> Int {
    var best = 0
    for c in 1 ..< C where row[c] > row[best] { best = c }
    return best
}
