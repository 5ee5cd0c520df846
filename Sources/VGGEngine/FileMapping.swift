// Read-only bytes of a model: a private mmap of a file, or memory the caller lends.
import Glibc
import VGGFormat

/// Bytes that stay valid and unchanged for the mapping's lifetime.
public final class FileMapping: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    /// The mapped file, nil for borrowed memory.
    private let file: MappedRegularFile?

    /// Maps `path` read-only. Empty files cannot be mapped and are reported as too short.
    public init(path: String) throws {
        let mapped: MappedRegularFile
        do {
            mapped = try MappedRegularFile(path: path)
        } catch let e as RegularFileError {
            throw e.kind == .empty ? FileMapping.tooShort(path, 0) : VGGError(e.missing ? .notFound : .io, e.message)
        }
        guard mapped.count >= VGGFile.headerSize else { throw FileMapping.tooShort(path, mapped.count) }
        file = mapped
        base = mapped.base
        count = mapped.count
    }

    /// Borrows caller memory, which must outlive this object and stay unchanged.
    public init(borrowing base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
        file = nil
    }

    private static func tooShort(_ path: String, _ size: Int) -> VGGError {
        VGGError(.format, "'\(path)' is \(size) bytes, shorter than the \(VGGFile.headerSize)-byte .vgg header")
    }
}
