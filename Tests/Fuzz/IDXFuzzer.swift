// libFuzzer target for the IDX reader (raw and gzip). Built by scripts/fuzz.sh
// together with the library's sources, so it calls them directly.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let array = try? IDX.decode(bytes: bytes), array.elementCount <= 1 << 16 {
        _ = array.floats()
    }
    return 0
}
