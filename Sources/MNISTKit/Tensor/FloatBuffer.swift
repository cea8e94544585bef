/// A fixed-size, zero-initialised Float buffer owned by one object. The training
/// step works on these through raw pointers: no copy-on-write checks and no
/// allocation inside the step.
public final class FloatBuffer {
    /// The buffer's first element.
    public let pointer: UnsafeMutablePointer<Float>
    /// Its length, in floats.
    public let count: Int

    /// A buffer of `count` zeros.
    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// A copy of the contents.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// A copy of `length` elements from `offset`.
    public func slice(_ offset: Int, _ length: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer + offset, count: length))
    }

    /// Overwrites the elements from `offset` with `values`.
    public func assign(_ values: [Float], at offset: Int = 0) {
        precondition(offset + values.count <= count, "values do not fit the buffer")
        values.withUnsafeBufferPointer { (pointer + offset).update(from: $0.baseAddress!, count: values.count) }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
}
