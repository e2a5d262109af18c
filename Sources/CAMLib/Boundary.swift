// The one funnel between C callers and CAMKit: every entry point runs its
// body through `capture`, so a Swift error becomes a cam_status (and, when
// the caller asked, a cam_error) and never crosses into C.
#if canImport(Glibc)
import Glibc
#endif
import CAMKit
import CCAMKernels

/// What a cam_error handle points at. The message is a C string owned here,
/// so `cam_error_message` can hand out a pointer valid until the free.
final class ErrorBox {
    let status: cam_status
    let message: UnsafeMutablePointer<CChar>

    init(status: cam_status, message: String) {
        self.status = status
        self.message = strdup(message) ?? strdup("")!
    }

    deinit { free(message) }
}

/// Where an entry point reports its error: `*err`, when err is not NULL.
typealias ErrorOut = UnsafeMutablePointer<OpaquePointer?>?

/// Runs `body`, clearing `*err` first; a thrown CAMError becomes its status
/// and, if err is not NULL, a new cam_error.
func capture(_ err: ErrorOut, _ body: () throws(CAMError) -> Void) -> cam_status {
    err?.pointee = nil
    do {
        try body()
        return CAM_OK
    } catch {
        let status = cam_status(rawValue: UInt32(clamping: error.code.rawValue))
        let known = (1...6).contains(error.code.rawValue)
        let box = ErrorBox(status: known ? status : CAM_ERR_INTERNAL, message: cNames(error.message))
        err?.pointee = OpaquePointer(Unmanaged.passRetained(box).toOpaque())
        return box.status
    }
}

func argument(_ message: String) -> CAMError { CAMError(.argument, message) }

/// A CAMKit message with each limit that cam_model_options sets named as
/// the C caller knows it.
func cNames(_ message: String) -> String {
    guard message.firstRange(of: "(Limits.") != nil else { return message }
    var text = message
    for (swift, c) in [("modelBytes", "max_model_bytes"), ("nodes", "max_nodes"),
                       ("tensorElements", "max_tensor_elements"), ("imagePixels", "max_image_pixels")] {
        text = text.replacing("(Limits.\(swift))", with: "(cam_model_options.\(c))")
    }
    return text
}

/// Hands a Swift object to C as an opaque handle (one retain).
func handle<T: AnyObject>(_ object: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

/// The object behind a handle, without taking ownership.
func object<T: AnyObject>(_ handle: OpaquePointer, as type: T.Type) -> T {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// Releases the handle's retain.
func release<T: AnyObject>(_ handle: OpaquePointer, as type: T.Type) {
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Reads an options struct whose first field is `struct_size`, refusing a
/// size this library does not know before reading anything else. C's
/// sizeof is Swift's stride (it counts tail padding; size does not).
func readOptions<T>(_ pointer: UnsafePointer<T>, name: String) throws(CAMError) -> T {
    let size = UnsafeRawPointer(pointer).loadUnaligned(as: UInt32.self)
    guard size == MemoryLayout<T>.stride else {
        throw argument("\(name).struct_size is \(size), but this library (camkit \(CAM_VERSION_STRING)) expects \(MemoryLayout<T>.stride); call \(name)_init and build against this version's cam.h")
    }
    return pointer.pointee
}

/// A C string argument that must not be NULL, as Swift text.
func string(_ pointer: UnsafePointer<CChar>?, _ what: String) throws(CAMError) -> String {
    guard let pointer else { throw argument("\(what) is NULL") }
    return String(cString: pointer)
}
