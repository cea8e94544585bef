// libFuzzer target for Kaggle-layout CSV (header detection, row and column
// counts, values 0-255). Built by scripts/fuzz.sh together with the library's
// sources, so it calls the parser directly.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    for shape in [nil, [2, 3]] as [[Int]?] {
        if let split = try? CSVImages.parse(bytes, path: "fuzz.csv", inputShape: shape) {
            precondition(split.images.count == split.labels.count * split.imageShape.reduce(1, *), "images do not fit the labels and shape")
        }
    }
    return 0
}
