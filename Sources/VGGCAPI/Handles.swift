// Boxing of Swift objects into the opaque C handles vgg_model* and vgg_session*.
// A handle holds one strong reference, released by the matching close/free call.
import VGGEngine

func box<T: AnyObject>(_ object: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

func unbox<T: AnyObject>(_ p: OpaquePointer, as: T.Type) -> T {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}

func release<T: AnyObject>(_ p: OpaquePointer, as: T.Type) {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).release()
}
