import CCAMKernels

/// One localized class of one image.
public struct Prediction: Sendable {
    /// 1 for the highest logit among the localized classes.
    public var rank: Int
    public var classIndex: Int
    /// Softmax probability of the class over all logits.
    public var score: Float
    public var logit: Float
    /// The box of the largest component above the threshold, in the map's
    /// pixel coordinates (inclusive); nil when the map holds no finite value.
    public var box: Box?
    /// Pixels in that component.
    public var boxPixels: Int
    /// The final map, values in [0, 1], `CAMResult.mapHeight` x `mapWidth`, row-major.
    public var map: [Float]
    /// The map at feature resolution after the ReLU (raw for plain CAM).
    public var lowres: [Float]
}

/// The outcome of `CAMModel.localize`: the classes asked for, in rank order.
public struct CAMResult: Sendable {
    public var method: CAMMethod
    public var targetLayer: String
    public var threshold: Double
    public var mapWidth: Int, mapHeight: Int
    public var lowresWidth: Int, lowresHeight: Int
    public var logits: [Float]
    public var predictions: [Prediction]
}

extension CAMModel {
    /// Class activation maps and boxes for one preprocessed image.
    ///
    /// - Parameters:
    ///   - input: [1, C, H, W], already normalized.
    ///   - method: the CAM method.
    ///   - topK: how many of the highest-scoring classes to localize (1 ... classes).
    ///   - classIndex: localize this class only (overrides topK).
    ///   - threshold: the box threshold as a fraction of the map's max, in (0, 1).
    ///   - targetLayer: a tensor name (see `summary().candidates`); nil picks automatically.
    ///   - outputSize: the final maps' height and width; nil uses the input's.
    public func localize(_ input: Tensor, method: CAMMethod = .gradCAM, topK: Int = 5, classIndex: Int? = nil,
                         threshold: Double = 0.2, targetLayer: String? = nil,
                         outputSize: (height: Int, width: Int)? = nil) throws(CAMError) -> CAMResult {
        try localize(input, method: method, threshold: threshold, targetLayer: targetLayer, outputSize: outputSize) { logits throws(CAMError) in
            try CAMModel.rankedClasses(logits, topK: topK, classIndex: classIndex)
        }
    }

    /// The classes to localize: `classIndex` alone, or the `topK` highest
    /// logits (equal logits in class order).
    static func rankedClasses(_ logits: [Float], topK: Int, classIndex: Int?) throws(CAMError) -> [Int] {
        let classCount = logits.count
        if let classIndex {
            guard classIndex >= 0, classIndex < classCount else {
                throw CAMError(.argument, "class \(classIndex) is out of range: the model has \(classCount) classes (0 to \(classCount - 1))")
            }
            return [classIndex]
        }
        guard topK >= 1, topK <= classCount else {
            throw CAMError(.argument, "top-k \(topK) must be 1 to \(classCount), the number of classes")
        }
        // The k best by insertion into a short sorted list: top-1 of 1000
        // classes had been a full sort (0.35% of a MobileNetV2 Grad-CAM).
        func before(_ a: Int, _ b: Int) -> Bool { logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }
        var best: [Int] = []
        best.reserveCapacity(topK)
        for c in logits.indices where best.count < topK || before(c, best[best.count - 1]) {
            if best.count == topK { best.removeLast() }
            let at = best.firstIndex { before(c, $0) } ?? best.count
            best.insert(c, at: at)
        }
        return best
    }

    /// The same, with the classes chosen by `select` from the logits once
    /// the forward pass has given them (in the order returned; ranks follow it).
    func localize(_ input: Tensor, method: CAMMethod, threshold: Double, targetLayer: String?,
                  outputSize: (height: Int, width: Int)?,
                  select: ([Float]) throws(CAMError) -> [Int]) throws(CAMError) -> CAMResult {
        guard input.shape.count == 4, input.shape[0] == 1 else {
            throw CAMError(.argument, "localize takes one image, shape [1, C, H, W]; got \(input.shape)")
        }
        guard threshold > 0, threshold < 1 else {
            throw CAMError(.argument, "threshold \(threshold) must be in (0, 1)")
        }
        let outH = outputSize?.height ?? input.shape[2], outW = outputSize?.width ?? input.shape[3]
        guard outH >= 1, outW >= 1, outH <= 1 << 15, outW <= 1 << 15 else {
            throw CAMError(.argument, "map size \(outH)x\(outW) must be 1 to 32768 on each side")
        }

        let target = try resolveTarget(targetLayer)
        let reach = Tail.reach(graph: graph, from: target.id)
        let plan = try plan(for: input.shape, exposing: reach.union([target.id]))
        let tail = Tail(plan: plan, target: target.id)
        let values = try plan.run(input, returning: tail.needed.union([target.id]))
        guard case .float(let logitsTensor)? = values[graph.outputs[0]], case .float(let a)? = values[target.id] else {
            throw CAMError(.internal, "forward pass did not keep the logits or the target")
        }
        let logits = logitsTensor.scalars
        let classCount = logits.count
        guard a.shape.count == 4 else { throw CAMError(.internal, "target '\(target.name)' is not rank 4") }
        let k = a.shape[1], h = a.shape[2], w = a.shape[3], hw = h * w
        try checkFinite(a.scalars, what: "the activations of target layer '\(target.name)'")
        try checkFinite(logits, what: "the logits")

        let classes = try select(logits)
        if let c = classes.first(where: { $0 < 0 || $0 >= classCount }) {
            throw CAMError(.argument, "class \(c) is out of range: the model has \(classCount) classes (0 to \(classCount - 1))")
        }
        let probabilities = softmax(logits)

        var camWeights: Tensor?
        if method == .cam {
            guard let weights = ModelStructure.plainCAMWeights(graph: graph, plan: plan, target: target.id) else {
                throw CAMError(.unsupported, "plain CAM needs the target '\(target.name)' to be followed by global average (or max) pooling and one linear layer; use gradcam (equal up to scale on such heads) or another method")
            }
            camWeights = weights
        }

        // Score-CAM's masked forwards do not depend on the class: run them once.
        let maskedLogits = method == .scoreCAM ? try scoreCAMLogits(input: input, activations: a) : []

        var predictions: [Prediction] = []
        for (rank, c) in classes.enumerated() {
            let weights: CAMWeights
            switch method {
            case .cam:
                weights = .channel(Array(camWeights!.scalars[(c * k)..<((c + 1) * k)]))
            case .gradCAM, .gradCAMPlusPlus, .xGradCAM, .hiResCAM, .layerCAM:
                var seed = [Float](repeating: 0, count: classCount)
                seed[c] = 1
                let g = try plan.gradient(of: graph.outputs[0], seed: Tensor(uncheckedShape: logitsTensor.shape, scalars: seed),
                                          at: tail, values: values)
                try checkFinite(g.scalars, what: "the gradients at target layer '\(target.name)'")
                weights = GradientStrategies.weights(method, a: a.scalars, g: g.scalars, channels: k, positions: hw)
            case .eigenCAM:
                weights = .map(EigenCAM.projection(a.scalars, channels: k, positions: hw))
            case .scoreCAM:
                weights = .channel(softmax(maskedLogits.map { $0[c] }))
            case .ablationCAM:
                weights = .channel(try ablationCAMWeights(input: input, activations: a, classIndex: c, original: logits[c],
                                                          target: target.id))
            }
            let raw = combine(weights, activations: a.scalars, channels: k, positions: hw)
            let lowres = method.appliesReLU ? raw.map { max($0, 0) } : raw
            try checkFinite(lowres, what: "the \(method.rawValue) map of class \(c)")
            let final = try MapPipeline.final(lowres, method: method, h: h, w: w, outH: outH, outW: outW)
            let found = Box.largestComponent(of: final, width: outW, height: outH, threshold: threshold)
            predictions.append(Prediction(rank: rank + 1, classIndex: c, score: probabilities[c], logit: logits[c],
                                          box: found?.box, boxPixels: found?.pixels ?? 0, map: final, lowres: lowres))
        }
        return CAMResult(method: method, targetLayer: target.name, threshold: threshold, mapWidth: outW, mapHeight: outH,
                         lowresWidth: w, lowresHeight: h, logits: logits, predictions: predictions)
    }

    /// The target tensor: by name, or the automatic choice.
    func resolveTarget(_ name: String?) throws(CAMError) -> ModelStructure.Tensor4D {
        let s = try structure()
        guard let name else {
            guard let t = s.defaultTarget else {
                throw CAMError(.unsupported, "the model has no tensor with spatial extent before its classifier head; name one with a target layer")
            }
            return t
        }
        if let t = s.candidates.first(where: { $0.name == name }) { return t }
        let list = s.candidates.map(\.name).joined(separator: ", ")
        if graph.valueID(named: name) == nil {
            throw CAMError(.argument, "no tensor named '\(name)' in the model; target layers with spatial extent: \(list)")
        }
        throw CAMError(.argument, "tensor '\(name)' has no spatial extent (it is not [N, C, H, W] with H x W > 1); target layers with spatial extent: \(list)")
    }

    /// Score-CAM (Wang et al. 2020), as pytorch-grad-cam computes it: each
    /// channel's map upsampled to the input (bilinear, aligned corners),
    /// scaled to [0, 1], multiplied into the input, and the network run on
    /// that, 32 masked inputs per batch. Returns the logits of every masked
    /// input, channel by channel; the weights of class c are the softmax over
    /// channels of their c-th logit. A channel whose map is all zero (a dead
    /// channel, common after ReLU) masks the input to zero whatever the input
    /// is, so all of them share one forward of the zero input. (Only exact
    /// zeros: a constant non-zero map upsamples with rounding differences of
    /// an ulp, which the scaling to [0, 1] magnifies.)
    func scoreCAMLogits(input: Tensor, activations a: Tensor) throws(CAMError) -> [[Float]] {
        let k = a.shape[1], h = a.shape[2], w = a.shape[3]
        let channels = input.shape[1], inH = input.shape[2], inW = input.shape[3], plane = inH * inW
        var logits = [[Float]](repeating: [], count: k)
        var live: [Int] = [], dead: [Int] = []
        for ch in 0..<k {
            if a.scalars[(ch * h * w)..<((ch + 1) * h * w)].allSatisfy({ $0 == 0 }) { dead.append(ch) } else { live.append(ch) }
        }
        if !dead.isEmpty {
            let out = try forward(Tensor(uncheckedShape: [1, channels, inH, inW], scalars: [Float](repeating: 0, count: channels * plane)))
            for ch in dead { logits[ch] = out.scalars }
        }
        let batchSize = 32
        for start in stride(from: 0, to: live.count, by: batchSize) {
            let group = Array(live[start..<min(start + batchSize, live.count)])
            // Each masked input is made on the thread that runs it.
            let out = try forward(images: group.count, shape: [1, channels, inH, inW]) { (j) throws(CAMError) in
                let ch = group[j]
                let source = Array(a.scalars[(ch * h * w)..<((ch + 1) * h * w)])
                var upsampled = [Float](repeating: 0, count: plane)
                try kernel("Score-CAM upsampling") {
                    upsampled.withUnsafeMutableBufferPointer {
                        ck_resize_bilinear(source, Int32(h), Int32(w), $0.baseAddress, Int32(inH), Int32(inW), CK_RESIZE_ALIGN_CORNERS)
                    }
                }
                let lo = upsampled.min()!, hi = upsampled.max()!
                let denominator = hi - lo + 1e-8
                var masked = [Float](repeating: 0, count: channels * plane)
                for p in 0..<channels {
                    let offset = p * plane
                    for i in 0..<plane { masked[offset + i] = input.scalars[offset + i] * ((upsampled[i] - lo) / denominator) }
                }
                return Tensor(uncheckedShape: [1, channels, inH, inW], scalars: masked)
            }
            let classes = out.shape[1]
            for (j, ch) in group.enumerated() { logits[ch] = Array(out.scalars[(j * classes)..<((j + 1) * classes)]) }
        }
        return logits
    }

    /// Ablation-CAM: each channel set to zero in turn (a batch of 32 copies
    /// of A at a time) and only the layers after the target run again;
    /// w_k = (score - score without channel k) / score.
    /// The batch plan is for the input's own shape, which need not be the
    /// model's default (a free height and width).
    func ablationCAMWeights(input: Tensor, activations a: Tensor, classIndex c: Int, original: Float, target: Int) throws(CAMError) -> [Float] {
        let k = a.shape[1], plane = a.shape[2] * a.shape[3], size = a.count
        var weights = [Float](repeating: 0, count: k)
        let batchSize = 32
        for start in stride(from: 0, to: k, by: batchSize) {
            let n = min(batchSize, k - start)
            let batchPlan = try plan(for: [n] + input.shape.dropFirst(), exposing: Tail.reach(graph: graph, from: target))
            let tail = Tail(plan: batchPlan, target: target)
            var copies = [Float](repeating: 0, count: n * size)
            for j in 0..<n {
                copies.replaceSubrange((j * size)..<((j + 1) * size), with: a.scalars)
                let ch = start + j
                for i in 0..<plane { copies[j * size + ch * plane + i] = 0 }
            }
            let out = try batchPlan.runTail(tail, target: Tensor(uncheckedShape: [n] + a.shape.dropFirst(), scalars: copies))
            let classes = out.shape[1]
            for j in 0..<n { weights[start + j] = (original - out.scalars[j * classes + c]) / original }
        }
        return weights
    }

    func softmax(_ x: [Float]) -> [Float] {
        guard let top = x.max() else { return [] }
        let e = x.map { Double(exp($0 - top)) }
        let sum = e.reduce(0, +)
        return e.map { Float($0 / sum) }
    }

    func checkFinite(_ values: [Float], what: String) throws(CAMError) {
        if let i = firstNonFinite(values) {
            throw CAMError(.format, "\(what) hold a non-finite value (\(values[i])) at flat index \(i)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
