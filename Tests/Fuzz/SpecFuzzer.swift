// libFuzzer target for the JSON model spec: parsing, validation, and building the model.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let spec = try? ModelSpec.parse(bytes) {
        // A valid spec must survive its own round trip.
        guard let again = try? ModelSpec.parse(spec.json.serialized), again == spec else { fatalError("spec round trip changed \(spec)") }
        _ = try? Model(spec: spec)
    }
    return 0
}
