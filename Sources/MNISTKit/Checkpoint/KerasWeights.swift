import CHDF5
import CZip
import Foundation

// Weights from Keras 3: a `.keras` archive (its `model.weights.h5`) or what
// `model.save_weights("x.weights.h5")` writes. Keras stores a layer's variables
// by position (`layers/<group>/vars/<i>`), so the spec's model says which group
// and index hold which of its variables (`kerasNodes`, `kerasLayerOrder`); the
// result is the tensors under our names, checked like a safetensors file's.
// The file is hostile input: sizes and shapes are checked before anything is
// allocated, and libhdf5 only ever sees bytes already in memory.

extension Model {
    /// The largest `.keras` or weights file read: the parameter limit in float32, and room for the rest.
    static let maximumKerasFileBytes = Model.maximumParameterCount * 4 + (64 << 20)

    /// The first bytes of a zip archive (`PK\3\4`) and of an HDF5 file (`\x89HDF\r\n\x1a\n`).
    static let zipSignature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// A zip or HDF5 file: Keras' formats rather than safetensors.
    static func isKerasWeights(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: zipSignature) || bytes.starts(with: hdf5Signature)
    }

    /// This model's variables read from a Keras file's bytes, under our names
    /// (`conv2d_1.kernel`); missing, extra and misshapen variables are errors
    /// naming the file, Keras' path and our variable.
    func kerasWeights(_ bytes: [UInt8], path: String) throws(SafetensorsError) -> SafetensorsFile {
        let h5 = bytes.starts(with: Model.zipSignature) ? try Model.zipEntry("model.weights.h5", of: bytes, path: path) : bytes
        return try readKerasWeightsFile(h5, path: path)
    }

    /// One entry of a `.keras` archive held in memory (its CRC checked).
    static func zipEntry(_ name: String, of bytes: [UInt8], path: String) throws(SafetensorsError) -> [UInt8] {
        do { return try ZipArchive.entry(name, of: bytes, limit: maximumKerasFileBytes) } catch {
            switch error {
            case let .notAnArchive(reason): throw SafetensorsError(path: path, message: "not a readable zip archive (a .keras file is one): \(reason)")
            case .missingEntry: throw SafetensorsError(path: path, message: "the archive has no \(name); a .keras file holds its weights there")
            case let .tooLarge(size): throw SafetensorsError(path: path, message: "\(name) claims \(size) bytes, more than the \(maximumKerasFileBytes) this tool reads")
            case let .damaged(reason): throw SafetensorsError(path: path, message: "\(name) in the archive is damaged: \(reason)")
            }
        }
    }

    /// Reads `layers/<group>/vars/<i>` for every variable from an HDF5 image, in a
    /// child process: libhdf5 1.10 trusts lengths in damaged metadata and can crash
    /// on a hostile file (`make fuzz` found a NULL memcpy), so a crash there becomes
    /// an error about the file, never a crash of the tool. The child sends back a
    /// status byte and then the values (or the error message) through a pipe.
    func readKerasWeightsFile(_ bytes: [UInt8], path: String) throws(SafetensorsError) -> SafetensorsFile {
        let reply = runIsolated {
            do {
                let file = try readKerasWeightsInProcess(bytes, path: path)
                return [0] + file.tensors.flatMap { tensor in tensor.values.withUnsafeBytes { Array($0) } }
            } catch {
                return [1] + Array(((error as? SafetensorsError)?.message ?? "\(error)").utf8)
            }
        }
        let damaged = SafetensorsError(path: path, message: "a damaged HDF5 file: libhdf5 failed while reading it")
        guard let reply, let status = reply.first else { throw damaged }
        guard status == 0 else { throw SafetensorsError(path: path, message: String(decoding: reply.dropFirst(), as: UTF8.self)) }
        var tensors = [SafetensorsFile.Tensor](), at = 1
        for slot in kerasWeightGroups(kerasNodes()).flatMap({ kerasVariables(of: $0.node) }) {
            let byteCount = slot.count * MemoryLayout<Float>.size
            guard at + byteCount <= reply.count else { throw damaged }
            let values = reply[at ..< at + byteCount].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            tensors.append(SafetensorsFile.Tensor(name: slot.name, shape: slot.shape, values: values))
            at += byteCount
        }
        return SafetensorsFile(metadata: [], tensors: tensors)
    }

    /// The HDF5 reading itself; see `readKerasWeightsFile`.
    private func readKerasWeightsInProcess(_ bytes: [UInt8], path: String) throws(SafetensorsError) -> SafetensorsFile {
        func fail(_ message: String) -> SafetensorsError { SafetensorsError(path: path, message: message) }
        guard bytes.starts(with: Model.hdf5Signature) else {
            throw fail("not an HDF5 file; expected Keras weights (model.weights.h5)")
        }
        chdf5_silence_errors()
        let access = H5Pcreate(chdf5_file_access())
        guard access >= 0 else { throw fail("cannot read the weights: libhdf5 failed") }
        defer { H5Pclose(access) }
        // The core driver reads the copy of the image libhdf5 keeps; nothing touches the disk.
        let status = bytes.withUnsafeBytes { raw in
            H5Pset_fapl_core(access, 1 << 16, false) >= 0 ? H5Pset_file_image(access, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count) : -1
        }
        guard status >= 0 else { throw fail("cannot read the weights: libhdf5 failed") }
        let file = H5Fopen("weights.h5", chdf5_read_only(), access)
        guard file >= 0 else { throw fail("not a readable HDF5 file (damaged or truncated)") }
        defer { H5Fclose(file) }

        func links(_ path: String) -> Int? {
            let group = H5Gopen2(file, path, chdf5_default())
            guard group >= 0 else { return nil }
            defer { H5Gclose(group) }
            var info = H5G_info_t()
            return H5Gget_info(group, &info) >= 0 ? Int(info.nlinks) : nil
        }
        /// True when every group on the way to `path` and the object itself exist.
        func exists(_ path: String) -> Bool {
            var prefix = ""
            for part in path.split(separator: "/") {
                prefix += prefix.isEmpty ? String(part) : "/\(part)"
                if H5Lexists(file, prefix, chdf5_default()) <= 0 { return false }
            }
            return true
        }

        var tensors = [SafetensorsFile.Tensor](), groups = 0
        for (node, group) in kerasWeightGroups(kerasNodes()) {
            groups += 1
            let slots = kerasVariables(of: node)
            let varsPath = "layers/\(group)/vars"
            for (i, slot) in slots.enumerated() {
                let datasetPath = "\(varsPath)/\(i)"
                guard exists(datasetPath) else {
                    throw fail("missing \(datasetPath), the Keras variable for \(slot.name), shape \(formatShape(slot.shape)), which the spec's layers need")
                }
                tensors.append(try readFloats(file, datasetPath, slot: slot, fail: fail))
            }
            if let count = links(varsPath), count > slots.count {
                let has = slots.isEmpty ? "no variables" : "\(slots.count) variable\(slots.count == 1 ? "" : "s") (\(slots.map(\.name).joined(separator: ", ")))"
                throw fail("unexpected \(varsPath)/\(slots.count): \(node.name) has \(has)")
            }
        }
        if let count = links("layers"), count > groups {
            throw fail("the file has \(count) layers, the spec's model \(groups) (as Keras counts them): a different model")
        }
        return SafetensorsFile(metadata: [], tensors: tensors)
    }

    /// One float dataset whose shape must be `slot`'s, checked before it is read.
    private func readFloats(_ file: hid_t, _ path: String, slot: ModelVariable, fail: (String) -> SafetensorsError) throws(SafetensorsError) -> SafetensorsFile.Tensor {
        let dataset = H5Dopen2(file, path, chdf5_default())
        guard dataset >= 0 else { throw fail("\(path) is not a dataset") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw fail("\(path): cannot read its shape") }
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (0 ... 8).contains(rank) else { throw fail("\(path) has an unreadable shape") }
        var dimensions = [hsize_t](repeating: 0, count: max(rank, 1))
        guard H5Sget_simple_extent_dims(space, &dimensions, nil) == rank else { throw fail("\(path) has an unreadable shape") }
        let shape = dimensions.prefix(rank).map { $0 > hsize_t(Int32.max) ? -1 : Int($0) }
        guard shape == slot.shape else {
            throw fail("\(path) (\(slot.name)) has shape \(formatShape(shape)), but the spec's layer needs \(formatShape(slot.shape))")
        }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT else { throw fail("\(path) (\(slot.name)) is not a floating-point dataset") }
        var values = [Float](repeating: 0, count: slot.count)
        let status = values.withUnsafeMutableBytes {
            H5Dread(dataset, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw fail("\(path) (\(slot.name)) cannot be read: damaged") }
        return SafetensorsFile.Tensor(name: slot.name, shape: slot.shape, values: values)
    }
}

/// Runs `body` in a forked child process and returns the bytes it produced, or nil
/// when the child crashed or was killed. The child runs only `body` (no other
/// thread exists there) and leaves with `_exit`, running no exit handlers.
func runIsolated(_ body: () -> [UInt8]) -> [UInt8]? {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { return nil }
    let child = fork()
    if child == 0 {
        close(fds[0])
        // A crash here is an answer, not a report: no backtrace from the runtime's handlers.
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Glibc.signal(signal, SIG_DFL) }
        let out = body()
        var written = 0
        out.withUnsafeBytes { raw in
            while written < raw.count {
                let count = write(fds[1], raw.baseAddress! + written, raw.count - written)
                if count < 0 { if errno == EINTR { continue } else { _exit(1) } }
                written += count
            }
        }
        _exit(0)
    }
    close(fds[1])
    guard child > 0 else {
        close(fds[0])
        return nil
    }
    var reply = [UInt8](), buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        reply += buffer[..<count]
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(child, &status, 0) < 0, errno == EINTR {}
    // Exited normally with status 0 (WIFEXITED and WEXITSTATUS, which Swift does not import).
    return (status & 0x7F) == 0 && ((status >> 8) & 0xFF) == 0 ? reply : nil
}

extension WeightsSource {
    /// Reads a weights file for `model`: safetensors, or Keras' `.keras` and
    /// `.weights.h5` (told apart by their first bytes), and names it by its digest.
    public static func load(path: String, for model: Model) throws(SafetensorsError) -> (file: SafetensorsFile, source: WeightsSource) {
        let bytes = try SafetensorsFile.readBytes(path: path, maximumBytes: Model.maximumKerasFileBytes)
        let file = Model.isKerasWeights(bytes) ? try model.kerasWeights(bytes, path: path) : try SafetensorsFile.decode(bytes, path: path)
        return (file, WeightsSource(file: URL(fileURLWithPath: path).lastPathComponent, sha256: sha256Hex(bytes)))
    }
}
