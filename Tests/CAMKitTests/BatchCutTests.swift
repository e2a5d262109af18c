import Foundation
import Testing
@testable import CAMKit

/// Where a batch's forward goes on as one batch (BatchCut.swift), on
/// graphs small enough to list every cut by hand.
@Suite struct BatchCutTests {
    typealias B = ONNXBuilder
    let w: [Float] = (0..<36).map { Float($0 % 5) / 4 - 0.5 }   // [2, 2, 3, 3]

    func images(_ n: Int) throws -> Tensor {
        try Tensor(shape: [n, 2, 8, 8], scalars: (0..<(n * 128)).map { Float(($0 * 37) % 23) / 11 - 1 })
    }

    /// y = flatten(GAP(relu(conv(x))) + GAP(x)): the input is read again
    /// late, so the only cut is after the Add, and the batch's rows still
    /// equal each image run alone.
    @Test func aValueReadLateLeavesOnlyTheLaterCut() throws {
        let data = B.model(nodes: [
            B.node("Conv", ["input", "w"], ["c"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c"], ["r"]),
            B.node("GlobalAveragePool", ["r"], ["g1"]),
            B.node("GlobalAveragePool", ["input"], ["g2"]),
            B.node("Add", ["g1", "g2"], ["s"]),
            B.node("Flatten", ["s"], ["y"]),
        ], initializers: [B.floats("w", [2, 2, 3, 3], w)], input: ("input", [nil, 2, 8, 8]), outputs: ["y"])
        let model = try CAMModel(data: data)
        let plan = try model.plan(for: [1, 2, 8, 8], exposing: [])
        let cuts = plan.cuts().map { model.graph.valueNames[$0.value] }
        #expect(cuts == ["s"], "cuts: \(cuts)")
        let cut = try #require(try model.batchCut([3, 2, 8, 8], imagePlan: plan))
        #expect(model.graph.valueNames[cut.value] == "s")

        let x = try images(3)
        let batch = try Runtime.withThreads(2) { () throws(CAMError) in try model.forward(x) }
        #expect(batch.shape == [3, 2])
        for i in 0..<3 {
            let one = try Tensor(shape: [1, 2, 8, 8], scalars: Array(x.scalars[(i * 128)..<((i + 1) * 128)]))
            let alone = try model.forward(one, returning: []).output
            #expect(Array(batch.scalars[(i * 2)..<((i + 1) * 2)]) == alone.scalars, "image \(i)")
        }
    }

    /// A chain has a cut after every step but the last; the first from
    /// which every value has at most 64 positions is the one taken (here
    /// the 4x4 output of a stride-2 convolution, not the 8x8 input's).
    @Test func theCutIsTheFirstFromWhichAllIsSmall() throws {
        let data = B.model(nodes: [
            B.node("Conv", ["input", "w"], ["c1"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c1"], ["r1"]),
            B.node("MaxPool", ["r1"], ["p"], ints: ["kernel_shape": [2, 2], "strides": [2, 2]]),
            B.node("Conv", ["p", "w"], ["c2"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c2"], ["r2"]),
            B.node("GlobalAveragePool", ["r2"], ["g"]),
            B.node("Flatten", ["g"], ["y"]),
        ], initializers: [B.floats("w", [2, 2, 3, 3], w)], input: ("input", [nil, 2, 16, 16]), outputs: ["y"])
        let model = try CAMModel(data: data)
        let plan = try model.plan(for: [1, 2, 16, 16], exposing: [])
        #expect(plan.cuts().map { model.graph.valueNames[$0.value] } == ["r1", "p", "r2", "g"])
        let cut = try #require(try model.batchCut([2, 2, 16, 16], imagePlan: plan))
        #expect(model.graph.valueNames[cut.value] == "p")
    }

    /// A NaN in one image of a batch spread over threads is refused, and
    /// its place is given in the batch as the caller passed it, as on one
    /// thread: through a cut (a pooled 8x8 net) and without one (a 16x16
    /// output, never 64 positions or fewer).
    @Test func aNaNInABatchIsRefusedWithItsPlaceInTheBatch() throws {
        let pooled = B.model(nodes: [
            B.node("Conv", ["input", "w"], ["c"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c"], ["r"]),
            B.node("GlobalAveragePool", ["r"], ["g"]),
            B.node("Flatten", ["g"], ["y"]),
        ], initializers: [B.floats("w", [2, 2, 3, 3], w)], input: ("input", [nil, 2, 8, 8]), outputs: ["y"])
        let map = B.model(nodes: [
            B.node("Conv", ["input", "w"], ["c"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c"], ["y"]),
        ], initializers: [B.floats("w", [2, 2, 3, 3], w)], input: ("input", [nil, 2, 16, 16]), outputs: ["y"])
        for (data, side, cuts) in [(pooled, 8, true), (map, 16, false)] {
            let model = try CAMModel(data: data)
            let plan = try model.plan(for: [1, 2, side, side], exposing: [])
            #expect((try model.batchCut([3, 2, side, side], imagePlan: plan) != nil) == cuts)
            let plane = 2 * side * side
            var x = try Tensor(shape: [3, 2, side, side], scalars: (0..<(3 * plane)).map { Float($0 % 7) / 7 })
            x.scalars[plane + 5] = .nan
            for threads in [1, 2] {
                do {
                    _ = try Runtime.withThreads(threads) { () throws(CAMError) in try model.forward(x) }
                    Issue.record("\(side)x\(side), threads \(threads): no error")
                } catch {
                    #expect(error.code == .argument && error.message.contains("NaN at flat index \(plane + 5)")
                            && error.message.contains("[3, 2, \(side), \(side)]"), "threads \(threads): \(error.message)")
                }
            }
        }
    }

    /// An output that no step makes (a constant) has no cut to find and
    /// must not trip the search: each image gets the constant.
    @Test func aConstantOutputHasNoCut() throws {
        let data = B.model(nodes: [
            B.node("Relu", ["k"], ["y"]),
            B.node("Relu", ["input"], ["unused"]),
        ], initializers: [B.floats("k", [1, 2], [-1, 2])], input: ("input", [nil, 2, 8, 8]), outputs: ["y"])
        let model = try CAMModel(data: data)
        let x = try images(2)
        let out = try Runtime.withThreads(2) { () throws(CAMError) in try model.forward(x) }
        #expect(out.shape == [2, 2] && out.scalars == [0, 2, 0, 2])
    }
}
