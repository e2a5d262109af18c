import ArgumentParser
import CAMKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time model loading and the forward pass.",
        discussion: """
        Loads the model (timed), runs one warm-up pass, then --runs timed passes on a random \
        input of the model's shape with batch --batch (a CAM method localizes the top-1 class \
        of each image). Prints load time, latency (median, min, \
        max), throughput and peak resident memory. Compare with a peer on the same file in the \
        same run with bench/compare.py.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "What to time: forward, or a CAM method (top-1 class, automatic target layer).")
    var method: String = "forward"

    @Option(help: "Images per pass.")
    var batch: Int = 1

    @Option(help: "Timed passes.")
    var runs: Int = 20

    @Option(help: "Threads (0: one per core). A batch (forward or CAMs) spreads its images over them, one image per thread (a forward, up to its last stage of 8x8 or smaller maps, which the batch then runs as one); one image's forward pass splits each layer.")
    var threads: Int = 0

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: ArgumentHelp("Time each step of the forward pass instead (median over --runs) and list the slowest.",
                             discussion: "With --json, every step. Fused steps show their ops joined by '+'; GMAC/s is for Conv, Gemm and MatMul, counted as a direct convolution."))
    var profile = false

    @Option(help: "Steps listed by --profile (0: all).")
    var top: Int = 25

    func validate() throws {
        guard method == "forward" || CAMMethod(name: method) != nil else {
            throw ValidationError("--method: forward or one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be 1 to 4096") }
        guard runs >= 1, runs <= 100_000 else { throw ValidationError("--runs must be 1 to 100000") }
        guard threads >= 0, threads <= 256 else { throw ValidationError("--threads must be 0 to 256") }
        guard top >= 0 else { throw ValidationError("--top must be 0 or more") }
        guard !profile || method == "forward" else { throw ValidationError("--profile times the forward pass; drop --method") }
    }

    func run() throws {
        try Camkit.guarded {
            Runtime.setThreads(threads)
            let start = DispatchTime.now()
            let m = try CAMModel(contentsOf: fileURL(model), limits: limitOptions.limits)
            let loadMs = milliseconds(since: start)
            let shape = try m.defaultInputShape(batch: batch)
            var rng = SystemRandomNumberGenerator()
            let x = try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -2...2, using: &rng) })
            if profile {
                try printProfile(m.profileForward(x, runs: runs), loadMs: loadMs)
                return
            }
            let cam = CAMMethod(name: method)
            // A batch of CAMs is its images one by one, spread over the threads.
            let images = try (0..<batch).map { (i) throws(CAMError) in
                let n = shape.dropFirst().reduce(1, *)
                return try Tensor(shape: [1] + shape.dropFirst(), scalars: Array(x.scalars[(i * n)..<((i + 1) * n)]))
            }
            let pass = { () throws(CAMError) in
                if let cam { _ = try m.localize(each: images, method: cam, topK: 1) } else { _ = try m.forward(x) }
            }
            try pass()
            var times: [Double] = []
            for _ in 0..<runs {
                let t0 = DispatchTime.now()
                try pass()
                times.append(milliseconds(since: t0))
            }
            let inOrder = times
            times.sort()
            let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
            let throughput = Double(batch) / (median / 1000)
            let peakMB = peakResidentMB()
            if json {
                try printJSON(["model": model, "method": method, "batch": batch, "runs": runs, "threads": threads,
                               "load_ms": loadMs, "median_ms": median, "min_ms": times.first!, "max_ms": times.last!,
                               "images_per_s": throughput, "peak_rss_mb": peakMB, "times_ms": inOrder])
            } else {
                print(String(format: "load %.1f ms; %@ batch %d: median %.2f ms (min %.2f, max %.2f) over %d runs; %.1f images/s; peak RSS %.0f MB",
                             loadMs, method, batch, median, times.first!, times.last!, runs, throughput, peakMB))
            }
        }
    }

    func printProfile(_ steps: [StepProfile], loadMs: Double) throws {
        let total = steps.reduce(0) { $0 + $1.milliseconds }
        if json {
            let rows: [[String: Any]] = steps.map {
                ["name": $0.name, "ops": $0.ops, "output_shape": $0.outputShape, "multiply_adds": $0.multiplyAdds,
                 "median_ms": $0.milliseconds]
            }
            try printJSON(["model": model, "batch": batch, "runs": runs, "threads": threads, "load_ms": loadMs,
                           "steps_ms": total, "steps": rows])
            return
        }
        let macs = steps.reduce(0) { $0 + $1.multiplyAdds }
        print(String(format: "load %.1f ms; batch %d, %d runs: %d steps, %.2f ms in all (sum of step medians), %.2f GMAC",
                     loadMs, batch, runs, steps.count, total, Double(macs) / 1e9))
        // By op: where the time goes at a glance.
        var byOps: [String: (ms: Double, count: Int, macs: Int)] = [:]
        for s in steps {
            let key = s.ops.joined(separator: "+")
            let e = byOps[key, default: (0, 0, 0)]
            byOps[key] = (e.ms + s.milliseconds, e.count + 1, e.macs + s.multiplyAdds)
        }
        print("\n  share      ms  steps  GMAC/s  ops")
        for (key, e) in byOps.sorted(by: { $0.value.ms > $1.value.ms }) {
            print(String(format: "%6.1f%% %7.3f %6d %7@  %@", 100 * e.ms / max(total, 1e-9), e.ms, e.count,
                         rate(e.macs, e.ms), key))
        }
        let shown = top == 0 ? steps.count : min(top, steps.count)
        print("\n  share      ms  GMAC/s  output            step")
        for s in steps.sorted(by: { $0.milliseconds > $1.milliseconds }).prefix(shown) {
            let shape = s.outputShape.map(String.init).joined(separator: "x")
            print(String(format: "%6.1f%% %7.3f %7@  %-17@ %@ (%@)", 100 * s.milliseconds / max(total, 1e-9), s.milliseconds,
                         rate(s.multiplyAdds, s.milliseconds), shape, s.name, s.ops.joined(separator: "+")))
        }
        if shown < steps.count { print("  ... \(steps.count - shown) faster steps (--top 0 lists all)") }
    }

    /// Giga multiply-adds per second, or "-" for steps that count none.
    func rate(_ macs: Int, _ ms: Double) -> String {
        macs == 0 || ms <= 0 ? "-" : String(format: "%.1f", Double(macs) / ms / 1e6)
    }

    func milliseconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    }

    /// VmHWM: this process image's own peak. (getrusage's ru_maxrss is not
    /// reset by exec, so a camkit started by a large parent, such as a Python
    /// benchmark, would report the parent's peak.)
    func peakResidentMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_maxrss) / 1024
        }
        return kb / 1024
    }
}
