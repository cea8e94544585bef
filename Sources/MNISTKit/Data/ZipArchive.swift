import CZip
import Foundation

/// Why an entry of a zip archive could not be read.
enum ZipReadError: Error, Equatable {
    /// Not a zip archive libzip can open (its reason).
    case notAnArchive(String)
    /// No entry of that name.
    case missingEntry
    /// The entry claims more bytes than the caller reads.
    case tooLarge(UInt64)
    /// The entry cannot be read whole, or fails its CRC check (libzip's reason).
    case damaged(String)
}

/// Zip archives held in memory, read through libzip: `.keras` files and NumPy's `.npz`.
enum ZipArchive {
    /// The bytes of entry `name` (at most `limit`), its CRC checked.
    static func entry(_ name: String, of bytes: [UInt8], limit: Int) throws(ZipReadError) -> [UInt8] {
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        func read(_ raw: UnsafeRawBufferPointer) throws(ZipReadError) -> [UInt8] {
            guard let source = zip_source_buffer_create(raw.baseAddress, zip_uint64_t(raw.count), 0, &error) else {
                throw .notAnArchive(String(cString: zip_error_strerror(&error)))
            }
            guard let archive = zip_open_from_source(source, ZIP_RDONLY, &error) else {
                zip_source_free(source)
                throw .notAnArchive(String(cString: zip_error_strerror(&error)))
            }
            defer { zip_discard(archive) }
            let index = zip_name_locate(archive, name, 0)
            guard index >= 0 else { throw .missingEntry }
            var stat = zip_stat_t()
            zip_stat_init(&stat)
            guard zip_stat_index(archive, zip_uint64_t(index), 0, &stat) == 0, stat.valid & zip_uint64_t(ZIP_STAT_SIZE) != 0 else {
                throw .damaged("cannot read its size")
            }
            guard stat.size <= zip_uint64_t(limit) else { throw .tooLarge(stat.size) }
            // Deflate expands at most 1032 times: a larger claim is a lie, refused before allocating.
            if stat.valid & zip_uint64_t(ZIP_STAT_COMP_SIZE) != 0 {
                guard stat.comp_size <= zip_uint64_t(raw.count), stat.size <= max(stat.comp_size, 64) * 1032 else {
                    throw .damaged("claims \(stat.size) bytes from \(stat.comp_size) compressed in a \(raw.count)-byte archive")
                }
            }
            guard let entry = zip_fopen_index(archive, zip_uint64_t(index), 0) else { throw .damaged(String(cString: zip_strerror(archive))) }
            defer { zip_fclose(entry) }
            var out = [UInt8](repeating: 0, count: Int(stat.size))
            let count = out.withUnsafeMutableBytes { zip_fread(entry, $0.baseAddress, zip_uint64_t($0.count)) }
            // libzip compares the CRC when a read reaches the end: one more read must return 0.
            var probe: UInt8 = 0
            guard count == Int64(stat.size), zip_fread(entry, &probe, 1) == 0 else { throw .damaged(String(cString: zip_file_strerror(entry))) }
            return out
        }
        // libzip reads the caller's bytes in place (freep 0: they stay ours).
        let result = bytes.withUnsafeBytes { raw in Result { () throws(ZipReadError) in try read(raw) } }
        return try result.get()
    }
}
