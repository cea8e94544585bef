// libFuzzer target for the image readers (PNG through libpng, PGM/PPM) and the MNIST-style
// preparation behind them. Built by scripts/fuzz.sh together with the library's sources.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? RGBAImage.decode(bytes), image.width * image.height <= 1 << 20 {
        _ = try? ImagePreprocessing.mnistStyle(image)
    }
    return 0
}
