import CCAMKernels

/// The one funnel through which Swift calls the C kernels: every `ck_status`
/// becomes a `CAMError` that names the operation, so no call site checks
/// codes by hand.
@inline(__always)
func kernel(_ operation: @autoclosure () -> String, _ body: () -> ck_status) throws(CAMError) {
    let status = body()
    if status == CK_OK { return }
    let reason = String(cString: ck_status_string(status))
    let code: CAMError.Code = status == CK_ERR_SIZE ? .memory : .internal
    throw CAMError(code, "\(operation()): \(reason)")
}
