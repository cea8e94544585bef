import CZlib
import MNISTKit

// Fixtures the test targets build for themselves: no data files are checked in.

/// gzip-compresses `bytes` with zlib (a reference independent of the reader).
public func gzip(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, windowBits: 16 + 15) }

/// zlib-compresses `bytes` (the zlib wrapper, as PNG's IDAT data has it).
public func zlibCompressed(_ bytes: [UInt8]) -> [UInt8] { deflated(bytes, windowBits: 15) }

func deflated(_ bytes: [UInt8], windowBits: Int32) -> [UInt8] {
    var stream = z_stream()
    precondition(czlib_deflate_init2(&stream, 6, windowBits) == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    let written = input.withUnsafeMutableBufferPointer { inputBuffer in
        output.withUnsafeMutableBufferPointer { outputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            stream.next_out = outputBuffer.baseAddress
            stream.avail_out = UInt32(outputBuffer.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outputBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[..<written])
}

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

