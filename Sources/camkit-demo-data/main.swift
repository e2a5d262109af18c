import CCAMKernels
import Dispatch
import Foundation

// camkit-demo-data OUTDIR [--seed N] [--steps N] [...]
//
// Offline and deterministic: renders a synthetic dataset of four shape classes
// on cluttered backgrounds, trains a small CNN on it with the camkit kernels,
// and writes OUTDIR/model.onnx, OUTDIR/labels.txt and OUTDIR/samples/ (PNG
// images at 256 x 256, the exact 64 x 64 input tensor of each as .npy, and
// samples.json with the true boxes and the trainer's own logits).

let usage = """
usage: camkit-demo-data OUTDIR [--seed N] [--steps N] [--batch N] [--target-accuracy F]
                        [--holdout N] [--eval-every N] [--lr F] [--samples N]
                        [--check-gradients]

  --seed N             PRNG seed (default 1)
  --steps N            training step budget (default 2000; 0 writes the untrained model)
  --batch N            images per step (default 32)
  --target-accuracy F  stop once the held-out accuracy reaches F (default 0.95)
  --holdout N          held-out images (default 512)
  --eval-every N       steps between held-out evaluations (default 100)
  --samples N          sample images to write (default 6: two circles and triangles, a square, a cross)
  --lr F               Adam's peak learning rate (default 0.01; warm-up, then cosine decay over --steps)
  --check-gradients    compare the backward pass with finite differences and exit
"""

struct Options {
    var outdir = ""
    var seed: UInt64 = 1
    var steps = 2000
    var batch = 32
    var targetAccuracy = 0.95
    var holdout = 512
    var evalEvery = 100
    var samples = 6
    var checkGradients = false
    var lr: Float = 0.01

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var positional: [String] = []
        var i = 0
        func value(_ flag: String) throws -> String {
            i += 1
            guard i < args.count else { throw OutputError(description: "\(flag) needs a value") }
            return args[i]
        }
        func integer(_ flag: String, min: Int) throws -> Int {
            let v = try value(flag)
            guard let n = Int(v), n >= min else { throw OutputError(description: "\(flag) expects an integer >= \(min), got '\(v)'") }
            return n
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--seed":
                let v = try value(a)
                guard let n = UInt64(v) else { throw OutputError(description: "--seed expects a non-negative integer, got '\(v)'") }
                o.seed = n
            case "--steps": o.steps = try integer(a, min: 0)
            case "--batch": o.batch = try integer(a, min: 1)
            case "--holdout": o.holdout = try integer(a, min: 1)
            case "--eval-every": o.evalEvery = try integer(a, min: 1)
            case "--samples": o.samples = try integer(a, min: 1)
            case "--target-accuracy":
                let v = try value(a)
                guard let f = Double(v), f > 0, f <= 1 else { throw OutputError(description: "--target-accuracy expects a number in (0, 1], got '\(v)'") }
                o.targetAccuracy = f
            case "--check-gradients": o.checkGradients = true
            case "--lr":
                let v = try value(a)
                guard let f = Float(v), f > 0 else { throw OutputError(description: "--lr expects a positive number, got '\(v)'") }
                o.lr = f
            case "-h", "--help":
                print(usage)
                exit(0)
            default:
                if a.hasPrefix("-") { throw OutputError(description: "unknown option '\(a)' (see --help)") }
                positional.append(a)
            }
            i += 1
        }
        if o.checkGradients { return o }
        guard positional.count == 1 else {
            throw OutputError(description: positional.isEmpty ? "missing OUTDIR (see --help)" : "expected one OUTDIR, got \(positional.count) arguments")
        }
        o.outdir = positional[0]
        return o
    }
}

/// PRNG streams: each image's generator is (seed, stream, index).
enum Stream: UInt64 {
    case weights = 0, training = 1, holdout = 2, samples = 3
}

let renderSize = 256
let classes = ShapeClass.allCases.count
let inputFloats = 3 * Network.inputSize * Network.inputSize

/// One drawing canvas per shard (thread) of a batch.
let canvases = (0..<Network.shards).map { _ in Canvas(size: renderSize) }

/// Renders image `index` of `stream` on `canvas` (its class drawn from its own
/// generator unless given) and writes its network input at `x`.
func makeExample(seed: UInt64, stream: Stream, index: Int, shape: ShapeClass? = nil, canvas: Canvas,
                 into x: UnsafeMutablePointer<Float>) throws -> Scene {
    var rng = SplitMix64(seed: seed, stream: stream.rawValue, index: UInt64(index))
    let cls = shape ?? ShapeClass(rawValue: rng.int(0, classes - 1))!
    let scene = SceneRenderer.render(cls, rng: &rng, on: canvas)
    try Preprocess.input(of: canvas, size: Network.inputSize, into: x)
    return scene
}

/// Renders `count` examples in parallel into `x` (count x [3, 64, 64]); their classes.
func makeBatch(seed: UInt64, stream: Stream, first: Int, count: Int, into x: UnsafeMutablePointer<Float>) throws -> [Int] {
    let labels = UnsafeMutablePointer<Int>.allocate(capacity: count)
    defer { labels.deallocate() }
    nonisolated(unsafe) let xs = x, ls = labels
    let shards = canvases.count
    try parallel(shards) { s in
        for j in ConvBlock.range(s, shards, count) {
            let scene = try makeExample(seed: seed, stream: stream, index: first + j, canvas: canvases[s], into: xs + j * inputFloats)
            ls[j] = scene.shape.rawValue
        }
    }
    return Array(UnsafeBufferPointer(start: labels, count: count))
}

func elapsed(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Held-out accuracy of `net` on `count` stored inputs.
func accuracy(_ net: Network, inputs: Buffer, labels: [Int]) throws -> Double {
    var correct = 0
    var start = 0
    while start < labels.count {
        let n = min(net.maxBatch, labels.count - start)
        net.x0.p.update(from: inputs.p + start * inputFloats, count: n * inputFloats)
        try net.forward(n)
        for i in 0..<n where argmax(net.probs.p + i * classes, classes) == labels[start + i] { correct += 1 }
        start += n
    }
    return Double(correct) / Double(labels.count)
}

func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
    var best = 0
    for i in 1..<n where p[i] > p[best] { best = i }
    return best
}

func argmax(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Int { argmax(UnsafePointer(p), n) }

/// Finite-difference check of every parameter's gradient on a small batch.
func checkGradients(seed: UInt64) throws {
    var rng = SplitMix64(seed: seed, stream: Stream.weights.rawValue, index: 0)
    let net = Network(classes: classes, maxBatch: 4, rng: &rng)
    // Batch-norm scales and shifts away from 1 and 0, so every path is exercised.
    for b in net.blocks {
        for i in 0..<b.cout { b.gamma.value.p[i] = rng.uniform(0.5, 1.5); b.beta.value.p[i] = rng.uniform(-0.2, 0.2) }
    }
    let labels = try makeBatch(seed: seed, stream: .training, first: 0, count: 4, into: net.x0.p)
    try net.forward(4, training: true)
    try net.backward(labels)
    // Per parameter tensor: the derivative along a random direction (many
    // entries at once, so float32 rounding is small against the signal),
    // central differences in float32 with the loss summed in double.
    var worst = 0.0
    for p in net.parameters {
        var d = [Float](repeating: 0, count: p.count)
        var norm: Float = 0
        for i in 0..<p.count { d[i] = rng.normal(); norm += d[i] * d[i] }
        norm = norm.squareRoot()
        var analytic = 0.0
        for i in 0..<p.count { d[i] /= norm; analytic += Double(d[i]) * Double(p.grad.p[i]) }
        let saved = p.value.array
        var estimates: [Double] = []
        for h: Float in [3e-3, 1e-3] {
            for i in 0..<p.count { p.value.p[i] = saved[i] + h * d[i] }
            try net.forward(4, training: true)
            let up = net.loss(labels)
            for i in 0..<p.count { p.value.p[i] = saved[i] - h * d[i] }
            try net.forward(4, training: true)
            let down = net.loss(labels)
            estimates.append((up - down) / Double(2 * h))
        }
        for i in 0..<p.count { p.value.p[i] = saved[i] }
        let rel = estimates.map { abs($0 - analytic) / max(abs($0) + abs(analytic), 1e-2) }.min()!
        worst = max(worst, rel)
        print(String(format: "  %-20@ directional derivative %+.6f, finite differences %+.6f / %+.6f, relative error %.1e",
                     p.name as NSString, analytic, estimates[0], estimates[1], rel))
    }
    guard worst < 0.01 else { throw OutputError(description: "gradient check failed (max relative error \(worst))") }
    print("gradient check passed")
}

func run(_ o: Options) throws {
    if o.checkGradients { return try checkGradients(seed: o.seed) }
    let start = ContinuousClock.now
    let fm = FileManager.default
    let samplesDir = (o.outdir as NSString).appendingPathComponent("samples")
    do {
        try fm.createDirectory(atPath: samplesDir, withIntermediateDirectories: true)
    } catch {
        throw OutputError(description: "cannot create '\(samplesDir)': \(error.localizedDescription)")
    }

    var rng = SplitMix64(seed: o.seed, stream: Stream.weights.rawValue, index: 0)
    let net = Network(classes: classes, maxBatch: max(o.batch, 64), rng: &rng)

    // Held-out set: fixed images from their own stream.
    let holdout = Buffer(o.holdout * inputFloats)
    var holdoutLabels: [Int] = []
    for first in stride(from: 0, to: o.holdout, by: 64) {
        holdoutLabels += try makeBatch(seed: o.seed, stream: .holdout, first: first, count: min(64, o.holdout - first),
                                   into: holdout.p + first * inputFloats)
    }
    print(String(format: "held-out set: %d images (%.1fs)", o.holdout, elapsed(since: start)))

    // Training: fresh images every step, Adam, a short warm-up then cosine decay.
    var adam = Adam()
    adam.lr = o.lr
    var acc = try accuracy(net, inputs: holdout, labels: holdoutLabels)
    var steps = 0
    var lossSum = 0.0, correctSum = 0, seen = 0
    let trainStart = ContinuousClock.now
    while steps < o.steps && acc < o.targetAccuracy {
        let labels = try makeBatch(seed: o.seed, stream: .training, first: steps * o.batch, count: o.batch, into: net.x0.p)
        try net.forward(o.batch, training: true)
        lossSum += net.loss(labels) * Double(o.batch)
        for i in 0..<o.batch where argmax(net.probs.p + i * classes, classes) == labels[i] { correctSum += 1 }
        seen += o.batch
        try net.backward(labels)
        let warm = min(1, Float(steps + 1) / 100)
        let cosine = 0.5 * (1 + cos(Float.pi * Float(steps) / Float(o.steps)))
        adam.step(net.parameters, lr: adam.lr * warm * (0.05 + 0.95 * cosine))
        steps += 1
        if steps % o.evalEvery == 0 || steps == o.steps {
            acc = try accuracy(net, inputs: holdout, labels: holdoutLabels)
            print(String(format: "step %5d  loss %.4f  train acc %.3f  held-out acc %.3f  (%.1fs)",
                         steps, lossSum / Double(seen), Double(correctSum) / Double(seen), acc, elapsed(since: trainStart)))
            fflush(nil)
            lossSum = 0; correctSum = 0; seen = 0
        }
    }
    let trainSeconds = elapsed(since: trainStart)

    // Samples: per class in turn, the first image of the sample stream that
    // the model classifies correctly (when it is trained at all: held-out
    // accuracy 0.5 or more; otherwise simply the next image).
    let names = ShapeClass.allCases.map(\.name)
    let order: [ShapeClass] = (0..<o.samples).map { i in
        i < 6 ? [.circle, .square, .triangle, .cross, .circle, .triangle][i] : ShapeClass(rawValue: i % classes)!
    }
    var manifest: [[String: Any]] = []
    var counts = [Int](repeating: 0, count: classes)
    var candidate = 0
    for shape in order {
        counts[shape.rawValue] += 1
        let name = "\(shape.name)_\(counts[shape.rawValue])"
        let canvas = canvases[0]
        var chosen: (Scene, [UInt8], [Float], [Float])?
        var firstTried: (Scene, [UInt8], [Float], [Float])?
        var skipped = 0
        for _ in 0..<50 {
            let scene = try makeExample(seed: o.seed, stream: .samples, index: candidate, shape: shape, canvas: canvas, into: net.x0.p)
            candidate += 1
            try net.forward(1)
            let logits = Array(UnsafeBufferPointer(start: net.logits.p, count: classes))
            let input = Array(UnsafeBufferPointer(start: net.x0.p, count: inputFloats))
            if firstTried == nil { firstTried = (scene, canvas.bytes, logits, input) }
            if acc < 0.5 || argmax(logits, classes) == shape.rawValue { chosen = (scene, canvas.bytes, logits, input); break }
            skipped += 1
        }
        let (scene, image, logits, input) = chosen ?? firstTried!
        let predicted = argmax(logits, classes)
        print("samples/\(name).png: box \(scene.box.list) (at 64x64: \(scene.box.scaled(down: renderSize / Network.inputSize).list)), " +
              "predicted \(names[predicted])\(skipped > 0 ? " (\(skipped) earlier \(shape.name) image\(skipped == 1 ? "" : "s") misclassified, skipped)" : "")")
        try Output.png(image, width: renderSize, height: renderSize,
                       to: (samplesDir as NSString).appendingPathComponent("\(name).png"))
        try Output.write(Output.npy(input, shape: [1, 3, Network.inputSize, Network.inputSize]),
                         to: (samplesDir as NSString).appendingPathComponent("\(name)_64x64.npy"))
        let b64 = scene.box.scaled(down: renderSize / Network.inputSize)
        manifest.append([
            "name": name, "image": "\(name).png", "input_tensor": "\(name)_64x64.npy",
            "class": shape.rawValue, "label": shape.name,
            "box": scene.box.list, "box_64": b64.list,
            "logits": logits.map { Double($0) }, "predicted": predicted,
        ])
    }

    let accuracyText = String(format: "%.4f", acc)
    let model = net.onnx(
        docString: "Synthetic shapes classifier (\(names.joined(separator: ", "))) on 64x64 RGB, trained by camkit-demo-data " +
            "(seed \(o.seed), \(steps) steps, held-out accuracy \(accuracyText)). Input: ImageNet-normalized RGB.",
        metadata: [("labels", names.joined(separator: ",")), ("mean", "0.485,0.456,0.406"), ("std", "0.229,0.224,0.225"),
                   ("seed", "\(o.seed)"), ("steps", "\(steps)"), ("heldout_accuracy", accuracyText)])
    try Output.write(model, to: (o.outdir as NSString).appendingPathComponent("model.onnx"))
    try Output.write(names.map { $0 + "\n" }.joined(), to: (o.outdir as NSString).appendingPathComponent("labels.txt"))
    let json = try JSONSerialization.data(withJSONObject: [
        "seed": Int(o.seed), "steps": steps, "heldout_accuracy": acc, "render_size": renderSize, "input_size": Network.inputSize,
        "target_layer": Network.targetLayer, "samples": manifest,
    ] as [String: Any], options: [.prettyPrinted, .sortedKeys])
    try Output.write([UInt8](json), to: (samplesDir as NSString).appendingPathComponent("samples.json"))

    print(String(format: "trained %d steps in %.1fs; held-out accuracy %.3f (%d images)", steps, trainSeconds, acc, o.holdout))
    print("wrote \(o.outdir)/model.onnx (\(model.count) bytes), labels.txt, samples/ (\(order.count) images)")
}

// One OpenBLAS thread: the network splits each batch over its own threads.
_ = ck_set_threads(1)
do {
    try run(try Options.parse(Array(CommandLine.arguments.dropFirst())))
} catch {
    FileHandle.standardError.write(Data("camkit-demo-data: \(error)\n".utf8))
    exit(1)
}
