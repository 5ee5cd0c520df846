// Opening an input file for reading or mapping: only regular files, and never blocking on the open.
import Glibc

/// Why a file could not be opened as a regular file; `missing` when it does not exist.
public struct RegularFileError: Error {
    public let missing: Bool
    public let message: String
}

/// Opens `path` read-only and returns its descriptor (close-on-exec, blocking reads) and size.
/// The open itself never blocks: a FIFO without a writer would hang a plain `open` forever, so
/// the file is opened non-blocking and anything but a regular file is refused by name.
public func openRegularFile(_ path: String) throws -> (descriptor: Int32, size: Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    if fd < 0 {
        let e = errno
        throw RegularFileError(missing: e == ENOENT, message: "cannot open '\(path)': \(String(cString: strerror(e)))")
    }
    var st = stat()
    if fstat(fd, &st) != 0 {
        let e = errno
        close(fd)
        throw RegularFileError(missing: false, message: "cannot stat '\(path)': \(String(cString: strerror(e)))")
    }
    let type = st.st_mode & S_IFMT
    guard type == S_IFREG else {
        close(fd)
        throw RegularFileError(missing: false, message: "'\(path)' is \(fileTypeName(type)), not a regular file")
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
