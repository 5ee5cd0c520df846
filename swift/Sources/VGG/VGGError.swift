// The error every VGG call throws: the C status (vgg_status in vgg.h) and libvgg's message.
import CVGG

/// A failed libvgg call. `status` is the C `vgg_status` value (VGG_ERROR_INVALID_ARGUMENT = 1,
/// VGG_ERROR_IO = 2, VGG_ERROR_FORMAT = 3, … as in include/vgg.h); `message` names what was
/// expected and what was found.
public struct VGGError: Error, CustomStringConvertible, Sendable, Equatable {
    public let status: Int32
    public let message: String

    public init(status: Int32, message: String) {
        self.status = status
        self.message = message
    }

    /// The status in words, as `vgg_status_string` gives it.
    public var statusDescription: String { String(cString: vgg_status_string(status)) }

    public var description: String { "\(statusDescription): \(message)" }

    /// An argument refused by the Swift layer before it reaches the library.
    static func invalidArgument(_ message: String) -> VGGError {
        VGGError(status: Int32(VGG_ERROR_INVALID_ARGUMENT.rawValue), message: message)
    }

    /// Throws the calling thread's last libvgg error when `status` is not VGG_OK.
    static func check(_ status: Int32) throws {
        if status != Int32(VGG_OK.rawValue) {
            throw VGGError(status: status, message: String(cString: vgg_last_error()))
        }
    }
}
