// Opening an input file for reading or mapping: only regular files, and never blocking on the open.
import Glibc

/// Why a file could not be opened or mapped as a regular file.
public struct RegularFileError: Error {
    /// `missing`: no such file; `empty`: a regular file of 0 bytes (nothing to map).
    public enum Kind { case missing, empty, other }
    public let kind: Kind
    public let message: String
    public var missing: Bool { kind == .missing }
}

/// Opens `path` read-only and returns its descriptor (close-on-exec, blocking reads) and size.
/// The open itself never blocks: a FIFO without a writer would hang a plain `open` forever, so
/// the file is opened non-blocking and anything but a regular file is refused by name.
public func openRegularFile(_ path: String) throws -> (descriptor: Int32, size: Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0 {
        let e = errno
        throw RegularFileError(kind: e == ENOENT ? .missing : .other, message: "cannot open '\(path)': \(String(cString: strerror(e)))")
    }
    var st = stat()
    if fstat(fd, &st) != 0 {
        let e = errno
        close(fd)
        throw RegularFileError(kind: .other, message: "cannot stat '\(path)': \(String(cString: strerror(e)))")
    }
    let type = st.st_mode & S_IFMT
    guard type == S_IFREG else {
        close(fd)
        throw RegularFileError(kind: .other, message: "'\(path)' is \(fileTypeName(type)), not a regular file")
    }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    return (fd, Int(st.st_size))
}

/// "a directory", "a FIFO (named pipe)", … for a stat `st_mode & S_IFMT`.
public func fileTypeName(_ type: mode_t) -> String {
    switch type {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO (named pipe)"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
}

/// A regular file mapped read-only and private: its bytes stay valid while this object lives
/// (replace such files by rename: truncating one in place raises SIGBUS in the reader).
public final class MappedRegularFile: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int

    /// Maps `path`; an empty file cannot be mapped (`RegularFileError.Kind.empty`).
    public init(path: String) throws {
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        guard size > 0 else { throw RegularFileError(kind: .empty, message: "'\(path)' is empty") }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw RegularFileError(kind: .other, message: "cannot map '\(path)' (\(size) bytes): \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        count = size
    }

    /// Drops the pages of a consumed range from memory (they are read again from disk if needed),
    /// so converting a large file does not keep all of it resident.
    public func release(offset: Int, length: Int) {
        let page = 4096
        let start = offset / page * page
        let end = min(count, offset + length)
        if end > start { _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED) }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), count) }
}
