// The per-thread "last error" message behind vgg_last_error().
import Glibc
import VGGEngine

/// A pthread key whose per-thread value is a malloc'd NUL-terminated message.
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    // On failure (key space exhausted) messages are simply not kept; statuses still work.
    _ = pthread_key_create(&key) { p in free(p) }
    return key
}()

private let emptyMessage: UnsafeMutablePointer<CChar> = strdup("")!

/// Stores `message` as this thread's last error.
func setLastError(_ message: String) {
    let old = pthread_getspecific(lastErrorKey)
    guard let copy = strdup(message) else { return }
    if pthread_setspecific(lastErrorKey, copy) != 0 {
        free(copy)
        return
    }
    free(old)
}

func lastErrorPointer() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(lastErrorKey) {
        return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
    }
    return UnsafePointer(emptyMessage)
}

/// Records `error` and returns its status code.
func fail(_ error: VGGError) -> Int32 {
    setLastError(error.message)
    return error.status.rawValue
}

func fail(_ status: VGGStatus, _ message: String) -> Int32 {
    fail(VGGError(status, message))
}

/// Runs `body`, mapping a thrown VGGError (or anything else) to a status and message.
func guarded(_ function: String, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return VGGStatus.ok.rawValue
    } catch let e as VGGError {
        return fail(VGGError(e.status, "\(function): \(e.message)"))
    } catch {
        return fail(.internal, "\(function): \(error)")
    }
}
