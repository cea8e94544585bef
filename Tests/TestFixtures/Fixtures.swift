import MNISTKit

// Fixtures the test targets build for themselves: no data files are checked in.

/// gzip-compresses `bytes` with zlib (a reference independent of the reader).
public func gzip(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, gzip: true) }

/// zlib-compresses `bytes` (the zlib wrapper, as PNG's IDAT data has it).
public func zlibCompressed(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, gzip: false) }

/// A small 10-class dataset of 4×4 images: class c lights pixel c (and c + 6
/// faintly) over noise. Learnable in a few epochs; made by the tests themselves.
public func syntheticDataset(count: Int, seed: UInt64) -> Dataset {
    var generator = RandomGenerator(seed: seed)
    var images = [UInt8](), labels = [UInt8]()
    for _ in 0 ..< count {
        let label = generator.nextIndex(below: 10)
        var pixels = (0 ..< 16).map { _ in UInt8(generator.nextIndex(below: 90)) }
        pixels[label] = 255
        pixels[label + 6] = max(pixels[label + 6], 160)
        images += pixels
        labels.append(UInt8(label))
    }
    return Dataset(images: images, labels: labels, imageShape: [4, 4, 1], classCount: 10)
}

