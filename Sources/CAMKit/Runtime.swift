import CCAMKernels

/// Process-wide settings of the numeric runtime.
public enum Runtime {
    /// Threads OpenBLAS uses for each GEMM (0: its default, all cores).
    /// Returns the previous setting. One image per thread wants 1 here, so
    /// that the cores are not oversubscribed.
    @discardableResult
    public static func setBLASThreads(_ threads: Int) -> Int {
        Int(ck_set_threads(Int32(clamping: max(0, threads))))
    }
}
