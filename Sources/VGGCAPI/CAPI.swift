// The C ABI of include/vgg.h: thin shims that check arguments, box handles and map errors.
// Nothing here may trap on caller input: every pointer and number is checked first.
import Glibc
import VGGEngine
import VGGFormat

private let versionCString: UnsafeMutablePointer<CChar> = strdup(LibraryVersion.string)!
private let statusCStrings: [UnsafeMutablePointer<CChar>] = VGGStatus.allCases.map { strdup($0.description)! }
private let unknownStatusCString: UnsafeMutablePointer<CChar> = strdup("unknown status code")!

@_cdecl("vgg_version")
public func vgg_version() -> UnsafePointer<CChar> {
    UnsafePointer(versionCString)
}

@_cdecl("vgg_version_number")
public func vgg_version_number() -> UInt32 {
    LibraryVersion.number
}

@_cdecl("vgg_status_string")
public func vgg_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    guard let s = VGGStatus(rawValue: status), let i = VGGStatus.allCases.firstIndex(of: s) else {
        return UnsafePointer(unknownStatusCString)
    }
    return UnsafePointer(statusCStrings[i])
}

@_cdecl("vgg_last_error")
public func vgg_last_error() -> UnsafePointer<CChar> {
    lastErrorPointer()
}

// MARK: - Model

@_cdecl("vgg_model_open")
public func vgg_model_open(_ path: UnsafePointer<CChar>?, _ flags: UInt32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_model_open: out_model is NULL") }
    out.pointee = nil
    guard let path else { return fail(.invalidArgument, "vgg_model_open: path is NULL") }
    if flags & ~ModelOpenOptions.all.rawValue != 0 {
        return fail(.invalidArgument, "vgg_model_open: flags 0x\(String(flags, radix: 16)) has unknown bits (known: VGG_OPEN_VERIFY_CHECKSUMS = 1)")
    }
    let p = String(cString: path)
    return guarded("vgg_model_open('\(p)')") {
        let model = try Model(path: p, options: ModelOpenOptions(rawValue: flags))
        out.pointee = box(model)
    }
}

@_cdecl("vgg_model_open_memory")
public func vgg_model_open_memory(_ data: UnsafeRawPointer?, _ size: Int, _ flags: UInt32,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_model_open_memory: out_model is NULL") }
    out.pointee = nil
    guard let data else { return fail(.invalidArgument, "vgg_model_open_memory: data is NULL") }
    if flags & ~ModelOpenOptions.all.rawValue != 0 {
        return fail(.invalidArgument, "vgg_model_open_memory: flags 0x\(String(flags, radix: 16)) has unknown bits")
    }
    return guarded("vgg_model_open_memory") {
        if size < VGGFile.headerSize {
            throw VGGError(.format, "size is \(size) bytes, shorter than the \(VGGFile.headerSize)-byte .vgg header")
        }
        let model = try Model(mapping: FileMapping(borrowing: data, count: size), options: ModelOpenOptions(rawValue: flags))
        out.pointee = box(model)
    }
}

@_cdecl("vgg_model_close")
public func vgg_model_close(_ model: OpaquePointer?) {
    guard let model else { return }
    release(model, as: Model.self)
}

// MARK: - Session

@_cdecl("vgg_session_create")
public func vgg_session_create(_ model: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "vgg_session_create: out_session is NULL") }
    out.pointee = nil
    guard let model else { return fail(.invalidArgument, "vgg_session_create: model is NULL") }
    let m = unbox(model, as: Model.self)
    out.pointee = box(Session(model: m))
    return VGGStatus.ok.rawValue
}

@_cdecl("vgg_session_free")
public func vgg_session_free(_ session: OpaquePointer?) {
    guard let session else { return }
    release(session, as: Session.self)
}
