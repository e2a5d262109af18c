import CCAMKernels
import Dispatch
import Synchronization

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

    /// body(0), ..., body(count - 1) on up to `workers` threads, each item on
    /// one thread with single-threaded kernels (several images share the
    /// cores image by image), results in index order. Throws the error of
    /// the lowest index that failed; the other items still run.
    static func eachOnOneThread<R: Sendable>(_ count: Int, workers: Int,
                                   _ body: @Sendable (Int) throws(CAMError) -> R) throws(CAMError) -> [R] {
        let next = Atomic<Int>(0)
        let slots = Locked([Result<R, CAMError>?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            withThreads(1) {
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < count else { return }
                    let outcome: Result<R, CAMError>
                    do throws(CAMError) { outcome = .success(try body(i)) } catch { outcome = .failure(error) }
                    slots.withLock { $0[i] = outcome }
                }
            }
        }
        var results: [R] = []
        results.reserveCapacity(count)
        for slot in slots.withLock({ $0 }) {
            switch slot {
            case .success(let r)?: results.append(r)
            case .failure(let e)?: throw e
            case nil: throw CAMError(.internal, "an item of the batch was never run")
            }
        }
        return results
    }

    /// For programs that own their process: keeps freed blocks up to 32 MB
    /// in malloc's heap, so that each layer's tensors do not come back as
    /// fresh pages the kernel must zero (a fifth of VGG-16's forward).
    public static func keepHeap() { ck_keep_heap() }
}
