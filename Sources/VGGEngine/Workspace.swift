// Aligned float buffers a session reuses across runs; they grow until the session gives
// them back (Session.releaseWorkspace).
import Glibc

final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>?
    private(set) var capacity = 0

    /// Ensures room for `count` floats (64-byte aligned); throws `.outOfMemory` on failure.
    func reserve(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        if let p = pointer, capacity >= count { return p }
        let (bytes, overflow) = max(count, 16).multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        if overflow { throw VGGError(.outOfMemory, "a workspace of \(count) floats overflows the address space") }
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw VGGError(.outOfMemory, "cannot allocate a \(bytes)-byte workspace")
        }
        free(pointer)
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 16))
        pointer = p
        capacity = count
        return p
    }

    /// The memory a run's workspace plan reserved, which must hold `count` floats: a layer
    /// never grows a buffer itself (WorkspacePlan), so more than the plan gave is an internal error.
    func claim(_ count: Int, for what: String) throws -> UnsafeMutablePointer<Float> {
        guard let p = pointer, capacity >= count else {
            throw VGGError(.internal, "workspace plan: \(what) needs \(count) floats, the plan reserved \(capacity)")
        }
        return p
    }

    var bytes: Int { capacity * MemoryLayout<Float>.size }

    /// Frees the memory; the next `reserve` allocates again.
    func release() {
        free(pointer)
        pointer = nil
        capacity = 0
    }

    deinit { free(pointer) }
}
