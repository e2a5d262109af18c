/// Weights transformed once per model and shared by its plans: Winograd's
/// U (Winograd.swift) and weights packed for ck_gemm_packed
/// (PackedWeights.swift). Every batch size and every set of exposed values
/// gets its own plan, and U alone is four times the 3x3 weights (235 MB for
/// VGG-16), so each plan transforming its own would multiply that. Keyed
/// by the transform and the weight's value id, with the weights kept beside
/// the result: a hit needs the same weights, which is one pointer
/// comparison when the plans share the constant's storage (they do).
final class WeightCache: Sendable {
    enum Transform: Hashable, Sendable { case winograd(tile: Int32), winogradPacked(tile: Int32), packed }
    private struct Key: Hashable { var transform: Transform; var id: Int }
    private struct Entry { var weights: [Float]; var result: [Float] }
    private let entries = Locked<[Key: Entry]>([:])

    func lookup(_ transform: Transform, id: Int, weights: [Float]) -> [Float]? {
        guard let e = entries.withLock({ $0[Key(transform: transform, id: id)] }) else { return nil }
        let same = e.weights.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress && a.count == b.count }
        }
        return same || e.weights == weights ? e.result : nil
    }

    /// Transformed weights held.
    var count: Int { entries.withLock { $0.count } }

    func store(_ transform: Transform, id: Int, weights: [Float], result: [Float]) {
        entries.withLock { $0[Key(transform: transform, id: id)] = Entry(weights: weights, result: result) }
    }
}
