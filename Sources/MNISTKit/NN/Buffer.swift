/// A fixed-size, zero-initialised Float buffer owned by one object. The training
/// step works on these through raw pointers: no copy-on-write checks and no
/// allocation inside the step.
public final class FloatBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func slice(_ offset: Int, _ length: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer + offset, count: length))
    }

    public func assign(_ values: [Float], at offset: Int = 0) {
        precondition(offset + values.count <= count, "values do not fit the buffer")
        values.withUnsafeBufferPointer { (pointer + offset).update(from: $0.baseAddress!, count: values.count) }
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
}
