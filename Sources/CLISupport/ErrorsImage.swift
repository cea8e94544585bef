import MNISTKit

/// One picture for `misclassifiedGridPNG`: grey pixels as the dataset stores them, and its caption.
public struct CaptionedImage {
    public let pixels: [UInt8]
    public let width: Int
    public let height: Int
    public let trueLabel: String
    public let predictedLabel: String

    public init(pixels: [UInt8], width: Int, height: Int, trueLabel: String, predictedLabel: String) {
        (self.pixels, self.width, self.height, self.trueLabel, self.predictedLabel) = (pixels, width, height, trueLabel, predictedLabel)
    }
}

/// The layout of the grid: sizes in pixels.
public struct GridLayout: Equatable {
    public static let margin = 8, gap = 8, captionGap = 3, maximumCaption = 24

    public let columns: Int, rows: Int
    public let cellWidth: Int, cellHeight: Int, imageScale: Int
    public let width: Int, height: Int

    public init(count: Int, imageWidth: Int, imageHeight: Int, longestCaption: Int, columns: Int, imageScale: Int) {
        self.columns = max(1, min(columns, count))
        rows = (count + self.columns - 1) / self.columns
        self.imageScale = imageScale
        cellWidth = max(imageWidth * imageScale, min(longestCaption, GridLayout.maximumCaption) * BitmapFont.width)
        cellHeight = imageHeight * imageScale + GridLayout.captionGap + BitmapFont.height
        width = 2 * GridLayout.margin + self.columns * cellWidth + (self.columns - 1) * GridLayout.gap
        height = 2 * GridLayout.margin + BitmapFont.height + GridLayout.gap + rows * cellHeight + max(rows - 1, 0) * GridLayout.gap
    }
}

/// A PNG of `images` in a grid under `title`: each image enlarged `imageScale` times as the model
/// saw it (light ink on black), captioned "true -> predicted" with the prediction in red.
public func misclassifiedGridPNG(_ images: [CaptionedImage], title: String, columns: Int = 6, imageScale: Int = 3) -> [UInt8] {
    let captions = images.map { "\($0.trueLabel) -> \($0.predictedLabel)" }
    let layout = GridLayout(count: images.count, imageWidth: images.first?.width ?? 28, imageHeight: images.first?.height ?? 28,
                            longestCaption: captions.map(\.count).max() ?? 0, columns: columns, imageScale: imageScale)
    var canvas = RGBCanvas(width: layout.width, height: layout.height)
    canvas.text(title, x: GridLayout.margin, y: GridLayout.margin, color: (0, 0, 0),
                maximumCharacters: (layout.width - 2 * GridLayout.margin) / BitmapFont.width)
    let top = GridLayout.margin + BitmapFont.height + GridLayout.gap
    for (k, image) in images.enumerated() {
        let x0 = GridLayout.margin + (k % layout.columns) * (layout.cellWidth + GridLayout.gap)
        let y0 = top + (k / layout.columns) * (layout.cellHeight + GridLayout.gap)
        let left = x0 + (layout.cellWidth - image.width * imageScale) / 2
        for y in 0 ..< image.height * imageScale {
            for x in 0 ..< image.width * imageScale {
                let v = image.pixels[(y / imageScale) * image.width + x / imageScale]
                canvas.set(left + x, y0 + y, (v, v, v))
            }
        }
        let captionY = y0 + image.height * imageScale + GridLayout.captionGap
        let truth = "\(image.trueLabel) -> "
        let end = canvas.text(truth, x: x0, y: captionY, color: (0, 0, 0), maximumCharacters: GridLayout.maximumCaption)
        canvas.text(image.predictedLabel, x: end, y: captionY, color: (200, 0, 0),
                    maximumCharacters: GridLayout.maximumCaption - min(truth.count, GridLayout.maximumCaption))
    }
    return PNG.encode(width: layout.width, height: layout.height, channels: 4, pixels: canvas.pixels)
}

/// A sample's pixels as people see them (EMNIST stores its images transposed);
/// `grey` averages the channels.
public func uprightPixels(_ dataset: Dataset, _ index: Int, transposed: Bool, grey: Bool = false) -> [UInt8] {
    let (height, width) = (dataset.imageShape[0], dataset.imageShape[1])
    var channels = dataset.imageShape[2]
    var pixels = Array(dataset.images[index * dataset.sampleSize ..< (index + 1) * dataset.sampleSize])
    if grey, channels > 1 {
        pixels = (0 ..< height * width).map { p in UInt8(pixels[p * channels ..< (p + 1) * channels].reduce(0) { $0 + Int($1) } / channels) }
        channels = 1
    }
    return transposed ? CLISupport.transposed(pixels, height: height, width: width, channels: channels) : pixels
}

/// The grid of the first `count` misclassified samples among `order` (with the
/// model's `predictions` for them), titled by `title(misclassified, shown)`.
public func errorsGridPNG(_ dataset: Dataset, order: [Int32], predictions: [Int32], transposed: Bool, count: Int,
                          title: (Int, Int) -> String) -> [UInt8] {
    let names = dataset.classNames
    let wrong = order.indices.filter { Int32(dataset.labels[Int(order[$0])]) != predictions[$0] }
    let (height, width) = (dataset.imageShape[0], dataset.imageShape[1])
    let shown = wrong.prefix(count).map { k in
        CaptionedImage(pixels: uprightPixels(dataset, Int(order[k]), transposed: transposed, grey: true),
                       width: transposed ? height : width, height: transposed ? width : height,
                       trueLabel: names[Int(dataset.labels[Int(order[k])])], predictedLabel: names[Int(predictions[k])])
    }
    return misclassifiedGridPNG(shown, title: title(wrong.count, shown.count))
}

/// White RGBA pixels to draw on.
struct RGBCanvas {
    let width: Int, height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        (self.width, self.height) = (width, height)
        pixels = [UInt8](repeating: 255, count: width * height * 4)
    }

    mutating func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard (0 ..< width).contains(x), (0 ..< height).contains(y) else { return }
        let at = (y * width + x) * 4
        (pixels[at], pixels[at + 1], pixels[at + 2]) = color
    }

    /// Draws `text` (non-ASCII as "?"; longer than `maximumCharacters`, cut with ".."), blending
    /// the glyphs' grey levels over what is there; returns the x after the last character.
    @discardableResult
    mutating func text(_ text: String, x: Int, y: Int, color: (Int, Int, Int), maximumCharacters: Int) -> Int {
        var characters = Array(text.unicodeScalars.map { (32 ... 126).contains($0.value) ? Int($0.value) : Int(UInt8(ascii: "?")) })
        if characters.count > maximumCharacters {
            characters = Array(characters.prefix(max(maximumCharacters - 2, 0))) + [46, 46].prefix(maximumCharacters)
        }
        for (i, code) in characters.enumerated() {
            let glyph = Array(BitmapFont.glyphs[code - 32].utf8)
            for gy in 0 ..< BitmapFont.height {
                for gx in 0 ..< BitmapFont.width {
                    let level = Int(hexValue(glyph[gy * BitmapFont.width + gx]))
                    let px = x + i * BitmapFont.width + gx, py = y + gy
                    guard level > 0, (0 ..< width).contains(px), (0 ..< height).contains(py) else { continue }
                    let at = (py * width + px) * 4
                    for (c, ink) in [color.0, color.1, color.2].enumerated() {
                        pixels[at + c] = UInt8((Int(pixels[at + c]) * (15 - level) + ink * level) / 15)
                    }
                }
            }
        }
        return x + characters.count * BitmapFont.width
    }

    private func hexValue(_ digit: UInt8) -> UInt8 { digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : digit - UInt8(ascii: "a") + 10 }
}
