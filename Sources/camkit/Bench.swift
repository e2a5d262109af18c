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

    @Option(help: "Threads (0: one per core). A batch of CAMs spreads its images over them; a forward pass splits each layer.")
    var threads: Int = 0

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard method == "forward" || CAMMethod(name: method) != nil else {
            throw ValidationError("--method: forward or one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be 1 to 4096") }
        guard runs >= 1, runs <= 100_000 else { throw ValidationError("--runs must be 1 to 100000") }
        guard threads >= 0, threads <= 256 else { throw ValidationError("--threads must be 0 to 256") }
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
