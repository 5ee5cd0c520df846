// Read-only bytes of a model: a private mmap of a file, or memory the caller lends.
import Glibc
import VGGFormat

/// Bytes that stay valid and unchanged for the mapping's lifetime.
public final class FileMapping: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let unmapOnDeinit: Bool

    /// Maps `path` read-only. Empty files cannot be mapped and are reported as too short.
    public init(path: String) throws {
        let fd: Int32, size: Int
        do {
            (fd, size) = try openRegularFile(path)
        } catch let e as RegularFileError {
            throw VGGError(e.missing ? .notFound : .io, e.message)
        }
        defer { close(fd) }
        if size < VGGFile.headerSize {
            throw VGGError(.format, "'\(path)' is \(size) bytes, shorter than the \(VGGFile.headerSize)-byte .vgg header")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw VGGError(.io, "cannot map '\(path)' (\(size) bytes): \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        count = size
        unmapOnDeinit = true
    }

    /// Borrows caller memory, which must outlive this object and stay unchanged.
    public init(borrowing base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
        unmapOnDeinit = false
    }

    deinit {
        if unmapOnDeinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
