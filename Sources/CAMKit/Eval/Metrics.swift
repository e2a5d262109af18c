/// The localization protocol of the CAM paper (Zhou et al. 2016) and
/// MaxBoxAcc (Choe et al. 2020), per image and over a data set. A box is
/// right for a class when its IoU (inclusive pixels) with some ground-truth
/// box of that class is at least 0.5.
///
/// Per image, with T the true classes and P the top-5 classes (largest
/// logits, equal logits by class index):
/// - classification top-1 is right when P[0] is in T; top-5 when some class of P is;
/// - localization top-1 is right when P[0] is in T and its box is right;
/// - localization top-5 is right when some class of P is in T with a right box;
/// - GT-known is right when the box of some class of T (each from its own
///   map, whatever the prediction) is right;
/// - MaxBoxAcc: GT-known with the box threshold t = i / 100, i = 0 ... 99,
///   each box from the same map; the accuracy is maximized over t.
public struct ImageOutcome: Sendable, Equatable {
    /// The image's path relative to the images folder.
    public var file: String
    public var width: Int, height: Int
    /// The true classes, ascending.
    public var labels: [Int]
    /// The top-5 classes (fewer when the model has fewer classes).
    public var predictions: [Int]
    /// The box of the top-1 class's map at the threshold, and its best IoU
    /// with a ground-truth box of that class (0 when it is not a true class).
    public var top1Box: Box?
    public var top1IoU: Double
    /// The true class whose box fits best (the smallest on a tie), its box
    /// from its own map and that IoU: the GT-known box.
    public var gtClass: Int
    public var gtBox: Box?
    public var gtIoU: Double
    public var clsTop1: Bool, clsTop5: Bool
    public var locTop1: Bool, locTop5: Bool
    public var gtKnown: Bool
    /// GT-known at each of the 100 MaxBoxAcc thresholds.
    public var hits: [Bool]

    /// Scores one image from the top classes and the boxes of the classes
    /// that need one: `boxes` must hold the top-1 class and every true
    /// class, `sweeps` every true class's boxes at the 100 thresholds.
    public static func score(file: String, width: Int, height: Int, truth: [GroundTruthObject], predictions: [Int],
                             boxes: [Int: Box?], sweeps: [Int: [Box?]]) -> ImageOutcome {
        let labels = Array(Set(truth.map(\.classIndex))).sorted()
        func bestIoU(_ box: Box?, _ c: Int) -> Double {
            guard let box else { return 0 }
            return truth.filter { $0.classIndex == c }.map { box.iou($0.box) }.max() ?? 0
        }
        func right(_ box: Box?, _ c: Int) -> Bool { bestIoU(box, c) >= 0.5 }

        let top1 = predictions.first ?? -1
        let top1Box = boxes[top1] ?? nil
        let top1IoU = bestIoU(top1Box, top1)
        var gtClass = labels.first ?? -1, gtIoU = -1.0
        for c in labels {
            let iou = bestIoU(boxes[c] ?? nil, c)
            if iou > gtIoU { gtClass = c; gtIoU = iou }
        }
        let hits = (0..<EvalTally.thresholdCount).map { i in
            labels.contains { c in right(sweeps[c]?[i] ?? nil, c) }
        }
        return ImageOutcome(
            file: file, width: width, height: height, labels: labels, predictions: predictions,
            top1Box: top1Box, top1IoU: top1IoU, gtClass: gtClass, gtBox: boxes[gtClass] ?? nil, gtIoU: max(gtIoU, 0),
            clsTop1: labels.contains(top1), clsTop5: predictions.contains(where: labels.contains),
            locTop1: labels.contains(top1) && top1IoU >= 0.5,
            locTop5: predictions.contains { labels.contains($0) && right(boxes[$0] ?? nil, $0) },
            gtKnown: gtIoU >= 0.5, hits: hits)
    }
}

/// Counts over the images scored so far: memory independent of their number.
public struct EvalTally: Sendable, Equatable {
    public static let thresholdCount = 100
    /// The MaxBoxAcc thresholds, t = i / 100 as doubles.
    public static let thresholds: [Double] = (0..<thresholdCount).map { Double($0) / 100 }

    public var n = 0
    public var clsTop1Correct = 0, clsTop5Correct = 0
    public var locTop1Correct = 0, locTop5Correct = 0
    public var gtKnownCorrect = 0
    public var hitsPerThreshold = [Int](repeating: 0, count: thresholdCount)

    public init() {}

    public mutating func add(_ o: ImageOutcome) {
        n += 1
        if o.clsTop1 { clsTop1Correct += 1 }
        if o.clsTop5 { clsTop5Correct += 1 }
        if o.locTop1 { locTop1Correct += 1 }
        if o.locTop5 { locTop5Correct += 1 }
        if o.gtKnown { gtKnownCorrect += 1 }
        for (i, hit) in o.hits.enumerated() where hit { hitsPerThreshold[i] += 1 }
    }

    /// The fractions; nil when no image was scored.
    public var metrics: EvalMetrics? {
        guard n > 0 else { return nil }
        let total = Double(n)
        // The best threshold: the smallest one among equal accuracies.
        var best = 0
        for i in hitsPerThreshold.indices where hitsPerThreshold[i] > hitsPerThreshold[best] { best = i }
        return EvalMetrics(
            n: n,
            clsTop1Err: Double(n - clsTop1Correct) / total, clsTop5Err: Double(n - clsTop5Correct) / total,
            locTop1Err: Double(n - locTop1Correct) / total, locTop5Err: Double(n - locTop5Correct) / total,
            gtKnownLocAcc: Double(gtKnownCorrect) / total,
            maxBoxAcc: Double(hitsPerThreshold[best]) / total, maxBoxAccThreshold: EvalTally.thresholds[best],
            boxAccPerThreshold: hitsPerThreshold.map { Double($0) / total })
    }
}

/// The scores of a data set, as fractions (the JSON keys in parentheses).
public struct EvalMetrics: Sendable, Equatable {
    public var n: Int                       // n
    public var clsTop1Err: Double           // cls_top1_err
    public var clsTop5Err: Double           // cls_top5_err
    public var locTop1Err: Double           // loc_top1_err
    public var locTop5Err: Double           // loc_top5_err
    public var gtKnownLocAcc: Double        // gt_known_loc_acc
    public var maxBoxAcc: Double            // max_box_acc
    public var maxBoxAccThreshold: Double   // max_box_acc_threshold
    public var boxAccPerThreshold: [Double] // box_acc_per_threshold
}
