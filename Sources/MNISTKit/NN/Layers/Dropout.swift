// keras.layers.Dropout: inverted dropout in training, the identity otherwise.
// Shapes: B rows of C values, any layout.

struct Dropout: Layer {
    static let typeName = "dropout"
    static let argumentNames = ["rate"]

    var rate: Double
    var width = 0

    init(rate: Double) { self.rate = rate }

    init(spec: SpecObject) throws(ConfigError) {
        rate = try spec.number("rate", default: nil, expected: "a number from 0 up to (not including) 1") { $0 >= 0 && $0 < 1 }
    }

    var arguments: [(key: String, value: JSONValue)] { [("rate", .number(rate))] }

    mutating func build(input: [Int], path: String, variables: inout VariableLayout) throws(ConfigError) -> [Int] {
        width = input.reduce(1, *)
        return input
    }

    /// The mask of kept (scaled) and dropped (zero) values; none at rate 0.
    func scratchSizes(batch B: Int, threads T: Int, training: Bool) -> [Int] {
        training && rate > 0 ? [B * width] : []
    }

    /// Each row's mask comes from its own stream of one seed drawn per step, so
    /// the threads share the rows and the masks do not depend on their count.
    func forward(_ io: LayerIO, _ context: StepContext, random: inout RandomGenerator) {
        let C = width
        guard io.training, let mask = io.scratch.first?.pointer else {
            context.run(rows: io.B) { _, rows in
                (io.out + rows.lowerBound * C).update(from: io.inp + rows.lowerBound * C, count: rows.count * C)
            }
            return
        }
        let seed = random.next(), rate = Float(rate)
        context.run(rows: io.B) { _, rows in
            for r in rows {
                var generator = RandomGenerator(seed: seed, stream: UInt64(r))
                dropoutForward(out: io.out + r * C, mask: mask + r * C, inp: io.inp + r * C, count: C, rate: rate, generator: &generator)
            }
        }
    }

    func backward(_ io: LayerIO, _ context: StepContext) {
        guard let dinp = io.dinp, let dout = io.dout else { return }
        let mask = io.scratch.first?.pointer, T = context.threads, n = io.B * width
        context.run { t in
            let range = partition(n, parts: T, part: t)
            if let mask {
                dropoutBackward(dinp: dinp + range.lowerBound, dout: dout + range.lowerBound, mask: mask + range.lowerBound, count: range.count)
            } else {
                (dinp + range.lowerBound).update(from: dout + range.lowerBound, count: range.count)
            }
        }
    }
}

extension Dropout {
    /// Inference passes values through: nothing to write.
    func exportONNX(_ graph: inout ONNXGraph, input: [Int], output: [Int]) {}
}

/// Inverted dropout: keeps each value with probability 1 - rate and scales the
/// kept ones by 1 / (1 - rate), so evaluation needs no rescaling.
func dropoutForward(
    out: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int,
    rate: Float, generator: inout RandomGenerator
) {
    // Two 24-bit uniforms from each 64-bit draw.
    let scale = 1 / (1 - rate), unit: Float = 1 / 16_777_216
    var k = 0
    while k < count {
        let bits = generator.next()
        mask[k] = Float(bits >> 40) * unit >= rate ? scale : 0
        if k + 1 < count { mask[k + 1] = Float((bits >> 16) & 0xFF_FFFF) * unit >= rate ? scale : 0 }
        k += 2
    }
    for k in 0 ..< count { out[k] = inp[k] * mask[k] }
}

func dropoutBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
    for k in 0 ..< count { dinp[k] = dout[k] * mask[k] }
}
