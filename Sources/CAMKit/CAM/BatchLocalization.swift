#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
        return try Runtime.eachOnOneThread(inputs.count, workers: workers) { (i) throws(CAMError) in
            try localize(inputs[i], method: method, topK: topK, classIndex: classIndex, threshold: threshold, targetLayer: targetLayer)
        }
    }
}
