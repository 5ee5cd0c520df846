// The library version; include/vgg.h carries the same numbers as macros. It lives beside the
// format so the engine, the converter and both tools report one version.

public enum LibraryVersion {
    public static let major = 0
    public static let minor = 1
    public static let patch = 0
    public static var string: String { "\(major).\(minor).\(patch)" }
    /// major·10000 + minor·100 + patch, as VGG_VERSION_NUMBER.
    public static var number: UInt32 { UInt32(major * 10000 + minor * 100 + patch) }
}

/// What `--version` prints for both tools: the library version and the .vgg format versions it writes and reads.
public let toolVersionText = "libvgg \(LibraryVersion.string), .vgg format version \(VGGFile.version) (reads 1…\(VGGFile.version))"
