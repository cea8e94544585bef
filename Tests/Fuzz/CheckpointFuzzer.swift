// libFuzzer target for the checkpoint reader: header, offsets, CRC, metadata, and restoring the model.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let checkpoint = try? Checkpoint.decode(bytes, path: "fuzz.ckpt") {
        _ = try? checkpoint.restore(path: "fuzz.ckpt")
    }
    return 0
}
