// An output file that appears at its path only when complete: written as an anonymous
// O_TMPFILE in the target directory (a kill leaves nothing behind), fsync'd, then linked
// and renamed over the target. Falls back to a named temporary where O_TMPFILE is missing.
// Shared by vgg-convert (.vgg files) and the vgg tool (.npz features, heatmap PNGs).
import Glibc

/// A failed step of writing an output file, with the path and the system's reason.
public struct AtomicOutputError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// O_TMPFILE is a compound macro Swift does not import: __O_TMPFILE | O_DIRECTORY (x86-64, arm64).
private let oTmpfile: Int32 = 0o20000000 | O_DIRECTORY

public final class AtomicOutput {
    public let path: String
    public let directory: String
    /// The open temporary file (for writers that take a descriptor).
    public private(set) var fd: Int32 = -1
    private var namedTemporary: String?
    private var committed = false

    public init(path: String) throws {
        self.path = path
        if let slash = path.lastIndex(of: "/") {
            let d = String(path[..<slash])
            directory = d.isEmpty ? "/" : d
        } else {
            directory = "."
        }
        fd = open(directory, oTmpfile | O_WRONLY | O_CLOEXEC, 0o644)
        if fd < 0 {
            let e = errno
            if e != EOPNOTSUPP && e != EISDIR && e != EINVAL && e != ENOENT {
                throw AtomicOutputError("cannot create the output in '\(directory)': \(String(cString: strerror(e)))")
            }
            if e == ENOENT { throw AtomicOutputError("output directory '\(directory)' does not exist") }
            var template = Array((path + ".tmp-XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd < 0 { throw AtomicOutputError("cannot create a temporary file next to '\(path)': \(String(cString: strerror(errno)))") }
            namedTemporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            fchmod(fd, 0o644)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw AtomicOutputError("writing '\(path)' failed at byte \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw AtomicOutputError("writing '\(path)' made no progress at byte \(offset + done)") }
            done += n
        }
    }

    public func setSize(_ size: Int) throws {
        if ftruncate(fd, off_t(size)) != 0 {
            throw AtomicOutputError("cannot size '\(path)' to \(size) bytes: \(String(cString: strerror(errno)))")
        }
    }

    /// Makes the file durable and visible at `path`, replacing any previous file there.
    public func commit() throws {
        if fsync(fd) != 0 { throw AtomicOutputError("fsync of '\(path)' failed: \(String(cString: strerror(errno)))") }
        if let tmp = namedTemporary {
            if rename(tmp, path) != 0 { throw AtomicOutputError("cannot rename the output to '\(path)': \(String(cString: strerror(errno)))") }
            namedTemporary = nil
        } else {
            let staging = path + ".tmp-\(getpid())"
            unlink(staging)
            if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, staging, AT_SYMLINK_FOLLOW) != 0 {
                throw AtomicOutputError("cannot link the output into '\(directory)': \(String(cString: strerror(errno)))")
            }
            if rename(staging, path) != 0 {
                let e = errno
                unlink(staging)
                throw AtomicOutputError("cannot rename the output to '\(path)': \(String(cString: strerror(e)))")
            }
        }
        committed = true
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if !committed, let tmp = namedTemporary { unlink(tmp) }
    }
}
