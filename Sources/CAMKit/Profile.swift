#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One step of a forward pass and the time it took: what `camkit bench
/// --profile` prints, to see which layers hold a model back.
public struct StepProfile: Sendable, Equatable {
    /// The name of the step's first node (the Conv, when others are fused into it).
    public let name: String
    /// The op types of the nodes it runs, in order: ["Conv", "Add", "Relu"]
    /// when a residual Add and its ReLU run in the Conv's epilogue.
    public let ops: [String]
    /// Shape of the step's (first) output.
    public let outputShape: [Int]
    /// Multiply-adds of a Conv, Gemm or MatMul, from the shapes (direct
    /// convolution's count, whatever algorithm ran); 0 for other ops.
    public let multiplyAdds: Int
    /// Median wall time over the profiled runs.
    public let milliseconds: Double
}

/// Per-step wall time, added up by Plan.run. One run on one thread at a
/// time: the kernels' own threads are inside a step.
final class StepTimer {
    var nanoseconds: [UInt64]
    init(steps: Int) { nanoseconds = [UInt64](repeating: 0, count: steps) }
}

func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

extension CAMModel {
    /// Runs the forward pass `runs` times (after one untimed run) on
    /// `input`'s whole batch at once, and returns each step's median time,
    /// in the order the steps run. Nodes folded into constants while
    /// planning do not appear. The kernels split each step over the threads
    /// that `Runtime` allows, as a plain forward pass of one image does.
    public func profileForward(_ input: Tensor, runs: Int) throws(CAMError) -> [StepProfile] {
        guard runs >= 1 else { throw CAMError(.argument, "profileForward: runs must be at least 1, got \(runs)") }
        let plan = try plan(for: input.shape, exposing: [])
        _ = try plan.run(input)
        var samples = [[UInt64]](repeating: [], count: plan.steps.count)
        for _ in 0..<runs {
            let timer = StepTimer(steps: plan.steps.count)
            _ = try plan.run(input, timer: timer)
            for (s, ns) in timer.nanoseconds.enumerated() { samples[s].append(ns) }
        }
        return plan.steps.enumerated().map { s, step in
            let first = graph.nodes[step.nodes[0]]
            let sorted = samples[s].sorted()
            let mid = sorted.count / 2
            let median = sorted.count % 2 == 1 ? Double(sorted[mid]) : (Double(sorted[mid - 1]) + Double(sorted[mid])) / 2
            let outShape = plan.shapes[step.outputs[0]] ?? []
            return StepProfile(name: first.name, ops: step.nodes.map { graph.nodes[$0].opType }, outputShape: outShape,
                               multiplyAdds: plan.multiplyAdds(step), milliseconds: median / 1e6)
        }
    }
}

extension Plan {
    /// A direct evaluation's multiply-adds for a step that starts with a
    /// Conv, Gemm or MatMul (0 otherwise): output elements times the
    /// length of the dot product behind each.
    func multiplyAdds(_ step: Step) -> Int {
        let node = graph.nodes[step.nodes[0]]
        // A fused step's output has the Conv's shape.
        guard let out = shapes[step.outputs[0]], let outCount = Tensor.elementCount(out) else { return 0 }
        func shape(_ slot: Int) -> [Int]? { slot < node.inputs.count ? node.inputs[slot].flatMap { shapes[$0] } : nil }
        switch node.op {
        case .conv:
            // Weight [c_out, c_in / groups, k_h, k_w]: each output sums over the last three.
            guard let w = shape(1), w.count >= 2 else { return 0 }
            return outCount * w.dropFirst().reduce(1, *)
        case .gemm(_, _, let transA, _):
            guard let a = shape(0), a.count == 2 else { return 0 }
            return outCount * (transA ? a[0] : a[1])
        case .matMul:
            guard let a = shape(0), let k = a.last else { return 0 }
            return outCount * k
        default:
            return 0
        }
    }
}
