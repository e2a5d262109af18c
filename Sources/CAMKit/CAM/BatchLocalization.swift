#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization

extension CAMModel {
    /// Localizes each of several preprocessed images ([1, C, H, W] each),
    /// results in input order. With several images the cores are shared
    /// image by image: up to `threads` images at once (0: one per kernel
    /// thread, `Runtime.threads`), each on one thread with single-threaded
    /// kernels, which beats splitting every layer of one image across the
    /// cores. One image alone gets all the threads for its layers. Throws the
    /// first image's error (in input order).
    public func localize(each inputs: [Tensor], method: CAMMethod = .gradCAM, topK: Int = 5, classIndex: Int? = nil,
                         threshold: Double = 0.2, targetLayer: String? = nil, threads: Int = 0) throws(CAMError) -> [CAMResult] {
        let workers = min(inputs.count, threads > 0 ? threads : Runtime.threads)
        guard workers > 1 else {
            var results: [CAMResult] = []
            for x in inputs {
                results.append(try localize(x, method: method, topK: topK, classIndex: classIndex, threshold: threshold, targetLayer: targetLayer))
            }
            return results
        }
        let next = Atomic<Int>(0)
        let slots = Locked([Result<CAMResult, CAMError>?](repeating: nil, count: inputs.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            Runtime.withThreads(1) {
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard i < inputs.count else { return }
                    let outcome: Result<CAMResult, CAMError>
                    do throws(CAMError) {
                        outcome = .success(try localize(inputs[i], method: method, topK: topK, classIndex: classIndex,
                                                        threshold: threshold, targetLayer: targetLayer))
                    } catch {
                        outcome = .failure(error)
                    }
                    slots.withLock { $0[i] = outcome }
                }
            }
        }
        var results: [CAMResult] = []
        for slot in slots.withLock({ $0 }) {
            switch slot {
            case .success(let r)?: results.append(r)
            case .failure(let e)?: throw e
            case nil: throw CAMError(.internal, "an image of the batch was never localized")
            }
        }
        return results
    }
}
