// Turning someone's picture into what the model saw in training, the way MNIST
// itself was made: light ink on black, the digit scaled into a 20x20 box and
// placed in the 28x28 field by its centre of mass.

/// Turning a decoded picture into the pixels a model takes.
public enum ImagePreprocessing {
    /// MNIST-style: luminance; alpha composited onto paper that contrasts with the ink;
    /// inverted when the border is light; background level (the border's median) removed and the
    /// paper's grain cleared; cropped to the ink's bounding box; scaled (area averaging) to fit a
    /// box of 20/28 of the field keeping the aspect ratio; placed so the centre of mass (in pixel
    /// indices) is at index (14, 14) of 28x28, as MNIST placed its digits (halves round away from
    /// zero). Values in [0, 1], row after row, `width * height` of them.
    public static func mnistStyle(_ image: RGBAImage, width: Int = 28, height: Int = 28) throws(ImageError.Problem) -> [Float] {
        // Ink over black first (luma × alpha); transparent pixels then get the contrasting paper.
        var gray = luminance(image, paper: 0)
        if image.hasTransparency, paperContrasting(image, inkOverBlack: gray) == 255 {
            for p in gray.indices { gray[p] += 255 - Float(image.pixels[p * 4 + 3]) }
        }
        var border = borderValues(gray, width: image.width, height: image.height)
        if border.reduce(0, +) / Float(border.count) > 127.5 {
            for i in gray.indices { gray[i] = 255 - gray[i] }
            border = border.map { 255 - $0 }
        }
        // The background's level (paper is seldom pure white) becomes 0, full ink stays 255.
        let background = median(border)
        guard background < 250 else { throw .blank }
        let stretch = 255 / (255 - background)
        for i in gray.indices { gray[i] = max(0, gray[i] - background) * stretch }

        let peak = gray.max() ?? 0
        guard peak >= 8 else { throw .blank }
        // Ink is what stands out from the paper's grain: over three times the border's 90th
        // percentile (0 on a clean page, so MNIST's faintest edge pixels stay, and strokes that
        // touch the border do not count as grain); the grain itself becomes 0.
        let grain = border.map { max(0, $0 - background) * stretch }.sorted()
        let threshold = min(3 * grain[grain.count * 9 / 10], peak / 2)
        if threshold > 0 { for i in gray.indices where gray[i] <= threshold { gray[i] = 0 } }
        var (left, top, right, bottom) = (image.width, image.height, -1, -1)
        for y in 0 ..< image.height {
            for x in 0 ..< image.width where gray[y * image.width + x] > threshold {
                (left, right, top, bottom) = (min(left, x), max(right, x), min(top, y), max(bottom, y))
            }
        }
        let (inkWidth, inkHeight) = (right - left + 1, bottom - top + 1)
        var ink = [Float](repeating: 0, count: inkWidth * inkHeight)
        for y in 0 ..< inkHeight {
            for x in 0 ..< inkWidth { ink[y * inkWidth + x] = gray[(top + y) * image.width + left + x] }
        }

        let box = Double(min(width, height)) * 20 / 28
        let scale = box.rounded() / Double(max(inkWidth, inkHeight))
        let scaledWidth = max(1, Int((Double(inkWidth) * scale).rounded()))
        let scaledHeight = max(1, Int((Double(inkHeight) * scale).rounded()))
        let scaled = resampleByArea(ink, width: inkWidth, height: inkHeight, toWidth: scaledWidth, toHeight: scaledHeight)

        // The centre of mass in pixel indices, moved by whole pixels to index (14, 14) of 28:
        // MNIST's own convention (all 10,000 of its test digits but one have their centre of mass
        // within half a pixel of index 14 that way; with pixel centres at +0.5, three in four
        // would be a pixel off).
        var (mass, sumX, sumY) = (0.0, 0.0, 0.0)
        for y in 0 ..< scaledHeight {
            for x in 0 ..< scaledWidth {
                let v = Double(scaled[y * scaledWidth + x])
                (mass, sumX, sumY) = (mass + v, sumX + v * Double(x), sumY + v * Double(y))
            }
        }
        let offsetX = Int((Double(width) / 2 - sumX / mass).rounded())
        let offsetY = Int((Double(height) / 2 - sumY / mass).rounded())
        var field = [Float](repeating: 0, count: width * height)
        for y in 0 ..< scaledHeight where (0 ..< height).contains(y + offsetY) {
            for x in 0 ..< scaledWidth where (0 ..< width).contains(x + offsetX) {
                field[(y + offsetY) * width + x + offsetX] = min(scaled[y * scaledWidth + x] / 255, 1)
            }
        }
        return field
    }

    /// Feeds the picture as it is: luminance (alpha composited onto black) / 255, after checking
    /// it is `width` × `height`.
    public static func asIs(_ image: RGBAImage, width: Int = 28, height: Int = 28) throws(ImageError.Problem) -> [Float] {
        guard image.width == width, image.height == height else {
            throw .wrongSize(expected: (width, height), found: (image.width, image.height))
        }
        return luminance(image, paper: 0).map { $0 / 255 }
    }

    /// Rec. 601 luma (what PIL's convert("L") computes), 0...255, alpha composited onto `paper`.
    static func luminance(_ image: RGBAImage, paper: Float) -> [Float] {
        (0 ..< image.width * image.height).map { p in
            let (red, green, blue) = (Float(image.pixels[p * 4]), Float(image.pixels[p * 4 + 1]), Float(image.pixels[p * 4 + 2]))
            let luma = 0.299 * red + 0.587 * green + 0.114 * blue
            let alpha = Float(image.pixels[p * 4 + 3]) / 255
            return alpha * luma + (1 - alpha) * paper
        }
    }

    /// White paper under dark ink, black under light ink: judged from the opaque pixels' mean luma,
    /// given `inkOverBlack`, each pixel's luma × alpha.
    static func paperContrasting(_ image: RGBAImage, inkOverBlack: [Float]) -> Float {
        var (weighted, weight) = (Float(0), Float(0))
        for p in inkOverBlack.indices {
            (weighted, weight) = (weighted + inkOverBlack[p], weight + Float(image.pixels[p * 4 + 3]) / 255)
        }
        return weight > 0 && weighted / weight > 127.5 ? 0 : 255
    }

    static func borderValues(_ gray: [Float], width: Int, height: Int) -> [Float] {
        var values: [Float] = []
        for x in 0 ..< width { values.append(gray[x]); if height > 1 { values.append(gray[(height - 1) * width + x]) } }
        for y in 1 ..< max(height - 1, 1) { values.append(gray[y * width]); if width > 1 { values.append(gray[y * width + width - 1]) } }
        return values
    }

    static func median(_ values: [Float]) -> Float {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Box-filter resampling: each output pixel is the mean of the input area it covers,
    /// fractional pixels weighted by their overlap. Separable, rows then columns.
    public static func resampleByArea(_ input: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
        func weights(from n: Int, to m: Int) -> [[(index: Int, weight: Float)]] {
            let step = Double(n) / Double(m)
            return (0 ..< m).map { j in
                let (start, end) = (Double(j) * step, Double(j + 1) * step)
                return (Int(start) ..< min(n, Int(end.rounded(.up)))).compactMap { i in
                    let overlap = min(end, Double(i + 1)) - max(start, Double(i))
                    return overlap > 0 ? (i, Float(overlap / step)) : nil
                }
            }
        }
        let across = weights(from: width, to: toWidth), down = weights(from: height, to: toHeight)
        var rows = [Float](repeating: 0, count: height * toWidth)
        for y in 0 ..< height {
            for (x, taps) in across.enumerated() {
                rows[y * toWidth + x] = taps.reduce(0) { $0 + $1.weight * input[y * width + $1.index] }
            }
        }
        var output = [Float](repeating: 0, count: toHeight * toWidth)
        for (y, taps) in down.enumerated() {
            for x in 0 ..< toWidth {
                output[y * toWidth + x] = taps.reduce(0) { $0 + $1.weight * rows[$1.index * toWidth + x] }
            }
        }
        return output
    }
}
