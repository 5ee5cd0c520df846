// Status codes of the C ABI and the error type that carries one with its message.

/// The C ABI's status codes (`vgg_status` in include/vgg.h). Values are pinned: never
/// renumber one, never reuse a removed one.
public enum VGGStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    case invalidArgument = 1
    case io = 2
    case format = 3
    case unsupported = 4
    case outOfMemory = 5
    case bufferTooSmall = 6
    case inputTooSmall = 7
    case checksum = 8
    case notFound = 9
    case notImplemented = 10
    case `internal` = 11

    /// The constant's name in vgg.h.
    public var name: String {
        switch self {
        case .ok: return "VGG_OK"
        case .invalidArgument: return "VGG_ERROR_INVALID_ARGUMENT"
        case .io: return "VGG_ERROR_IO"
        case .format: return "VGG_ERROR_FORMAT"
        case .unsupported: return "VGG_ERROR_UNSUPPORTED"
        case .outOfMemory: return "VGG_ERROR_OUT_OF_MEMORY"
        case .bufferTooSmall: return "VGG_ERROR_BUFFER_TOO_SMALL"
        case .inputTooSmall: return "VGG_ERROR_INPUT_TOO_SMALL"
        case .checksum: return "VGG_ERROR_CHECKSUM"
        case .notFound: return "VGG_ERROR_NOT_FOUND"
        case .notImplemented: return "VGG_ERROR_NOT_IMPLEMENTED"
        case .internal: return "VGG_ERROR_INTERNAL"
        }
    }

    /// One-line description, as `vgg_status_string` returns it.
    public var description: String {
        switch self {
        case .ok: return "success"
        case .invalidArgument: return "invalid argument"
        case .io: return "input/output error"
        case .format: return "malformed or unsupported .vgg file"
        case .unsupported: return "unsupported model or operation"
        case .outOfMemory: return "out of memory"
        case .bufferTooSmall: return "output buffer too small"
        case .inputTooSmall: return "input smaller than the model's minimum size"
        case .checksum: return "checksum mismatch"
        case .notFound: return "not found"
        case .notImplemented: return "not implemented"
        case .internal: return "internal error"
        }
    }
}

/// An engine failure: the C status it maps to and a message naming what was expected and
/// what was found.
public struct VGGError: Error, Sendable, CustomStringConvertible {
    public let status: VGGStatus
    public let message: String

    public init(_ status: VGGStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}
