import CCAMKernels

/// Threads of the numeric runtime. The kernels split each convolution and
/// GEMM over a pool of threads (OpenBLAS itself stays single-threaded);
/// these set how many one call may use.
public enum Runtime {
    /// Threads per kernel call for the whole process (0: the default, one
    /// per core or CAMKIT_NUM_THREADS / OPENBLAS_NUM_THREADS / OMP_NUM_THREADS).
    /// Returns the previous setting.
    @discardableResult
    public static func setThreads(_ threads: Int) -> Int {
        Int(ck_set_threads(Int32(clamping: max(0, threads))))
    }

    /// The former name of `setThreads`, from when OpenBLAS ran the threads.
    @discardableResult
    public static func setBLASThreads(_ threads: Int) -> Int { setThreads(threads) }

    /// Threads a kernel call made now on this thread may use.
    public static var threads: Int { Int(ck_threads()) }

    /// Runs `body` with kernel calls on this thread limited to `threads`
    /// (0: no limit of its own), then restores the previous limit. One image
    /// per thread wants 1.
    public static func withThreads<R, E: Error>(_ threads: Int, _ body: () throws(E) -> R) throws(E) -> R {
        let previous = ck_set_local_threads(Int32(clamping: max(0, threads)))
        defer { ck_set_local_threads(previous) }
        return try body()
    }

    /// For programs that own their process: keeps freed blocks up to 32 MB
    /// in malloc's heap, so that each layer's tensors do not come back as
    /// fresh pages the kernel must zero (a fifth of VGG-16's forward).
    public static func keepHeap() { ck_keep_heap() }
}
