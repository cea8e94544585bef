// libFuzzer target for NumPy's .npy header and values, and the .npz archive
// around them (libzip from memory). Built by scripts/fuzz.sh together with the
// library's sources, so it calls them directly.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumPy(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if bytes.starts(with: NumPyArchive.signature) {
        for key in ["x_train", "y_train"] {
            if let array = try? NumPyArchive.array(key, in: bytes, path: "fuzz.npz", limit: 1 << 24), array.count <= 1 << 16 { _ = array.integers }
        }
    } else if let array = try? NumPyArray.parse(bytes, path: "fuzz.npy"), array.count <= 1 << 16 {
        _ = array.integers
    }
    return 0
}
