#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// What makes the maps that `camkit eval` scores: a CAM method, or backprop
/// saliency (the CAM paper's baseline).
public enum EvalMethod: Sendable, Equatable, CustomStringConvertible {
    case map(CAMMethod)
    /// max over channels of |d logit / d input|, min-max normalized, at the
    /// input's resolution (then resized to the image like any map).
    case backprop

    public init?(name: String) {
        if name.lowercased() == "backprop" { self = .backprop; return }
        guard let m = CAMMethod(name: name) else { return nil }
        self = .map(m)
    }

    public var description: String {
        switch self {
        case .map(let m): return m.rawValue
        case .backprop: return "backprop"
        }
    }

    public static var names: [String] { CAMMethod.allCases.map(\.rawValue) + ["backprop"] }
}

public struct EvalOptions: Sendable {
    public var method: EvalMethod = .map(.gradCAM)
    /// The box threshold, a fraction of the map's maximum, in (0, 1).
    public var threshold: Double = 0.2
    public var targetLayer: String?
    public var preprocessing = Preprocessing()
    public var maxPixels = Limits.maxImagePixels
    /// Images in flight at once, one per thread (0: one per core). With more
    /// than one, OpenBLAS is set to one thread for the run.
    public var threads = 0

    public init() {}
}

/// Scoring a data set: each image on its own thread (the model is shared
/// read-only; each call has its own scratch), outcomes handed on in image
/// order and folded into counts, so memory does not grow with the data set.
public enum Evaluation {
    /// Scores one image: top-5 classes, the map and box of the top-1 class
    /// and of every true class (as `localize` gives them: maps at the
    /// image's own size), and each true class's boxes at the 100 MaxBoxAcc
    /// thresholds from that same map.
    public static func evaluate(_ item: EvalItem, model: CAMModel, options: EvalOptions) throws(CAMError) -> ImageOutcome {
        let image = try Image(contentsOf: item.url, maxPixels: options.maxPixels)
        if let size = item.declaredSize, size != ImageSize(width: image.width, height: image.height) {
            throw CAMError(.argument, "\(item.file): the annotation declares the size \(size), the image is \(image.width)x\(image.height)")
        }
        for o in item.objects where o.box.xMin < 0 || o.box.yMin < 0 || o.box.xMax >= image.width || o.box.yMax >= image.height {
            throw CAMError(.argument, "\(o.source): box \(o.box) of \(item.file) lies outside the image (\(image.width)x\(image.height), so x 0 to \(image.width - 1), y 0 to \(image.height - 1))")
        }
        let truth = item.classes
        let (x, region) = try model.imageInput(image, preprocessing: options.preprocessing)
        var ranked: [Int] = []
        let select = { (logits: [Float]) throws(CAMError) -> [Int] in
            ranked = try CAMModel.rankedClasses(logits, topK: min(5, logits.count), classIndex: nil)
            for c in truth where c >= logits.count {
                throw CAMError(.argument, "\(item.file): class \(c) is out of range: the model has \(logits.count) classes")
            }
            return [ranked[0]] + truth.filter { $0 != ranked[0] }
        }
        // Each class's map at the region's size, and its box at the threshold.
        var maps: [(classIndex: Int, map: [Float], box: Box?)] = []
        switch options.method {
        case .map(let method):
            let result = try model.localize(x, method: method, threshold: options.threshold, targetLayer: options.targetLayer,
                                            outputSize: (region.height, region.width), select: select)
            maps = result.predictions.map { ($0.classIndex, $0.map, $0.box) }
        case .backprop:
            let (_, gradients) = try model.inputGradients(x, select: select)
            let classes = [ranked[0]] + truth.filter { $0 != ranked[0] }
            let h = x.shape[2], w = x.shape[3]
            for (c, g) in zip(classes, gradients) {
                var map = CAMModel.saliencyMap(g)
                if h != region.height || w != region.width {
                    map = try MapPipeline.resize(map, from: h, w, to: region.height, region.width)
                }
                let box = Box.largestComponent(of: map, width: region.width, height: region.height, threshold: options.threshold)?.box
                maps.append((c, map, box))
            }
        }
        var boxes: [Int: Box?] = [:], sweeps: [Int: [Box?]] = [:]
        for m in maps {
            boxes[m.classIndex] = m.box.map(region.place)
            if truth.contains(m.classIndex) {
                sweeps[m.classIndex] = Box.largestComponents(of: m.map, width: region.width, height: region.height,
                                                             thresholds: EvalTally.thresholds).map { $0.map { region.place($0.box) } }
            }
        }
        return ImageOutcome.score(file: item.file, width: image.width, height: image.height, truth: item.objects,
                                  predictions: ranked, boxes: boxes, sweeps: sweeps)
    }

    /// Checks on a blank input that the method applies to the model (plain
    /// CAM's head, backward rules, the target layer) before a run starts,
    /// so a method that cannot work fails once rather than per image.
    public static func checkMethod(model: CAMModel, options: EvalOptions) throws(CAMError) {
        let shape = try model.defaultInputShape(batch: 1)
        let blank = try Tensor(shape: shape)
        switch options.method {
        case .backprop:
            _ = try model.inputGradients(blank, classes: [0])
        case .map(let m) where m == .cam || m.needsGradients:
            _ = try model.localize(blank, method: m, classIndex: 0, threshold: options.threshold, targetLayer: options.targetLayer)
        case .map:
            _ = try model.structure()
            if let name = options.targetLayer { _ = try model.resolveTarget(name) }
        }
    }

    /// What a run reports as it goes, serialized and in image order.
    public enum Event: Sendable {
        case scored(ImageOutcome)
        case failed(EvalItem, CAMError)
    }

    /// Scores `items` on `options.threads` threads. `onEvent` gets every
    /// image's outcome or error in image order (an error it throws stops the
    /// run and is rethrown); `onProgress` the count done after each image.
    /// Returns the counts of the scored images added to `tally`.
    public static func run(_ items: [EvalItem], model: CAMModel, options: EvalOptions, tally start: EvalTally = EvalTally(),
                           onEvent: @escaping @Sendable (Event) throws(CAMError) -> Void = { _ in },
                           onProgress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws(CAMError) -> EvalTally {
        struct State {
            var next = 0                 // the next item to take
            var delivered = 0            // items handed to onEvent, in order
            var pending: [Int: Event] = [:]
            var tally: EvalTally
            var stop: CAMError?
        }
        let state = Locked(State(tally: start))
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let workers = max(1, min(options.threads > 0 ? options.threads : cores, items.count))
        // Outcomes wait for their predecessors; bound how far ahead a thread may run.
        let window = 8 * workers
        // Several images at once: each worker's kernels run single-threaded
        // (a per-thread limit, so overlapping runs do not disturb each other).
        let kernelThreads = workers > 1 ? 1 : 0

        DispatchQueue.concurrentPerform(iterations: workers) { _ in
          Runtime.withThreads(kernelThreads) {
            while true {
                var index: Int?
                var finished = false
                while index == nil && !finished {
                    state.withLock { s in
                        if s.stop != nil || s.next >= items.count { finished = true; return }
                        if s.next < s.delivered + window { index = s.next; s.next += 1 }
                    }
                    if index == nil && !finished { usleep(500) }
                }
                guard let index else { return }
                let event: Event
                do throws(CAMError) {
                    event = .scored(try evaluate(items[index], model: model, options: options))
                } catch {
                    event = .failed(items[index], error)
                }
                state.withLock { s in
                    s.pending[index] = event
                    while s.stop == nil, let ready = s.pending.removeValue(forKey: s.delivered) {
                        do throws(CAMError) {
                            try onEvent(ready)
                            if case .scored(let o) = ready { s.tally.add(o) }
                        } catch {
                            s.stop = error
                        }
                        s.delivered += 1
                        onProgress(s.delivered, items.count)
                    }
                }
            }
          }
        }
        return try state.withLock { s throws(CAMError) in
            if let stop = s.stop { throw stop }
            return s.tally
        }
    }
}
