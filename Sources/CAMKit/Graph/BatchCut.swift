#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a batch of images on several threads stops running image by image
/// and goes on as one batch (CAMModel.forward).
///
/// One image per thread keeps each thread in its own cache with no syncing,
/// which pays where activations are large and weights small: a network's
/// first layers. Its last layers are the other way round. ResNet-18's 7x7
/// convolutions hold 2.4 MB of weights (their Winograd transform 4.2 MB or
/// more) for 100 KB of activations per image, and VGG-16's first linear
/// layer 411 MB for one row: image by image, each thread streams them from
/// memory once per image. As one batch they are read once per batch, and
/// the GEMMs get a column per image (Winograd's, four per image), split
/// over the threads.
struct BatchCut: Sendable {
    /// The one computed value the layers after the cut read.
    let value: Int
    /// The last step before the cut, in the batch-1 plan and in the batch's.
    let imageStep: Int
    let batchStep: Int
    /// Graph nodes up to the one that makes `value`: the batch's plan never
    /// runs them (Plan.init's headNodes).
    let headNodes: Int
}

extension Plan {
    /// Every cut of the plan: (s, v) where the steps after s read no
    /// computed value but v, an output of step s; the graph input and the
    /// first output are not among the values they may leave behind.
    func cuts() -> [(step: Int, value: Int)] {
        let input = graph.inputs[0].id, output = graph.outputs[0]
        var producer: [Int: Int] = [input: -1]
        for (s, step) in steps.enumerated() { for id in step.outputs { producer[id] = s } }
        var lastRead: [Int: Int] = [:]
        for (s, step) in steps.enumerated() {
            for case let id? in step.inputs where producer[id] != nil { lastRead[id] = s }
        }
        // The output is read after the last step: no cut may leave it behind
        // (unless it is a constant, which no step makes).
        if producer[output] != nil { lastRead[output] = steps.count }
        // crossing[s]: computed values made at or before step s and read after it.
        var crossing = [Int](repeating: 0, count: steps.count + 1)
        // A value made by step p (the input: p = -1) and last read by step
        // L crosses the cuts p...L-1.
        for (id, last) in lastRead {
            let first = max(producer[id]!, 0)
            guard first < last else { continue }
            crossing[first] += 1
            crossing[last] -= 1
        }
        var running = 0
        var count = [Int](repeating: 0, count: steps.count)
        for s in 0..<steps.count {
            running += crossing[s]
            count[s] = running
        }
        var result: [(step: Int, value: Int)] = []
        for (id, last) in lastRead where id != input && id != output {
            let s = producer[id]!
            if last > s, count[s] == 1, s < steps.count - 1 { result.append((s, id)) }
        }
        return result.sorted { $0.step < $1.step }
    }

    /// Runs steps[0...last] on one image and returns `value`, their output.
    func runHead(_ input: Tensor, through last: Int, value: Int) throws(CAMError) -> Tensor {
        var values = try startingValues(input)
        try runSteps(0..<(last + 1), &values, keeping: [value])
        guard case .float(let t)? = values[value] else {
            throw CAMError(.internal, "the layers before the batch's cut did not compute '\(graph.valueNames[value])'")
        }
        return t
    }

    /// Runs the steps after `last` from `value` (the batch's values at the
    /// cut) and returns the first graph output. Unlike runTail(_:target:)
    /// (Ablation-CAM), which runs only the steps that read its target, this
    /// runs every step after the cut, which by the cut's definition read
    /// nothing from before it but `value`.
    func runFromCut(after last: Int, value id: Int, _ value: Tensor) throws(CAMError) -> Tensor {
        guard value.shape == shapes[id] else {
            throw CAMError(.internal, "a value of shape \(value.shape) given for '\(graph.valueNames[id])' of shape \(shapes[id] ?? [])")
        }
        var values = [Value?](repeating: nil, count: graph.valueNames.count)
        values[id] = .float(value)
        try runSteps((last + 1)..<steps.count, &values)
        guard case .float(let out)? = values[graph.outputs[0]] else {
            throw CAMError(.unsupported, "the graph output '\(graph.valueNames[graph.outputs[0]])' is not a float tensor")
        }
        return out
    }
}

extension CAMModel {
    /// The cut for a batch of `shape` run on several threads, or nil where
    /// the whole batch goes image by image. Found once per batch shape.
    func batchCut(_ shape: [Int], imagePlan: Plan) throws(CAMError) -> BatchCut? {
        if let known = batchCuts.withLock({ $0[shape] }) { return known }
        let cut = try findBatchCut(shape, imagePlan: imagePlan)
        batchCuts.withLock { $0[shape] = .some(cut) }
        return cut
    }

    /// CAMKIT_BATCH_CUT=0 runs every batch image by image: the before/after
    /// switch for benchmarks.
    static let batchCutEnabled: Bool = {
        guard let s = getenv("CAMKIT_BATCH_CUT") else { return true }
        return String(cString: s) != "0"
    }()

    /// The earliest cut from which every value, the one at the cut included,
    /// has at most 64 positions (8x8) per channel and image: there a GEMM
    /// has too few columns per image to pay for reading its weights, and
    /// the activations are small enough to hold for the whole batch.
    /// ResNet's 7x7 stage and classifier, VGG-16's classifier, MobileNetV2's
    /// last blocks. Cutting earlier, before 14x14 layers, was no faster
    /// (ResNet-18 and -50, VGG-16 at batch 16 and 32 on 2 cores).
    private func findBatchCut(_ shape: [Int], imagePlan: Plan) throws(CAMError) -> BatchCut? {
        guard CAMModel.batchCutEnabled else { return nil }
        func small(_ id: Int) -> Bool {
            guard let s = imagePlan.shapes[id], s.count >= 2 else { return false }
            return s.dropFirst(2).reduce(1, *) <= 64
        }
        // Scanning back from the last step: `small` holds for every value
        // after index `from`.
        var from = imagePlan.steps.count
        while from > 0, imagePlan.steps[from - 1].outputs.allSatisfy(small) { from -= 1 }
        guard let chosen = imagePlan.cuts().first(where: { $0.step >= from }) else { return nil }
        let headNodes = imagePlan.steps[chosen.step].node + 1
        let batchPlan = try plan(for: shape, exposing: [], headNodes: headNodes)
        guard let batchStep = batchPlan.cuts().first(where: { $0.value == chosen.value })?.step,
              let imageShape = imagePlan.shapes[chosen.value], imageShape.first == 1,
              batchPlan.shapes[chosen.value] == [shape[0]] + imageShape.dropFirst(),
              batchPlan.shapes[graph.outputs[0]]?.first == shape[0] else { return nil }
        return BatchCut(value: chosen.value, imageStep: chosen.step, batchStep: batchStep, headNodes: headNodes)
    }
}
