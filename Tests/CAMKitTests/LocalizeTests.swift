import Foundation
import Testing
@testable import CAMKit

/// The localize surface: its bad inputs, the defined outcome for degenerate
/// maps, and the box rules on maps whose answer is known by construction.
@Suite struct LocalizeTests {
    typealias B = ONNXBuilder

    /// Conv -> Relu (the target) -> GAP -> Flatten -> Gemm, 3 classes; class 2's
    /// weights are all negative, so its Grad-CAM map is all negative before the ReLU.
    static func smallModel() throws -> CAMModel {
        let w = B.floats("w", [4, 3, 3, 3], (0..<108).map { Float(($0 * 37) % 19) / 19 - 0.3 })
        let fc = B.floats("fc", [3, 4], [1, 0.5, -0.25, 2, -1, 1, 0.5, 0.25, -1, -2, -0.5, -0.25])
        let data = B.model(nodes: [
            B.node("Conv", ["input", "w"], ["c"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c"], ["r"]),
            B.node("GlobalAveragePool", ["r"], ["g"]),
            B.node("Flatten", ["g"], ["f"]),
            B.node("Gemm", ["f", "fc"], ["y"], int: ["transB": 1]),
        ], initializers: [w, fc], input: ("input", [nil, 3, 8, 8]), outputs: ["y"])
        return try CAMModel(data: data, name: "small")
    }

    static func input() throws -> Tensor {
        var rng = SplitMix(seed: 21)
        return try Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { _ in rng.nextFloat() })
    }

    func code(_ body: () throws -> Void) -> CAMError.Code? {
        do { try body(); return nil } catch let e as CAMError { return e.code } catch { return .internal }
    }

    @Test func badArgumentsAreRefused() throws {
        let m = try Self.smallModel(), x = try Self.input()
        #expect(code { _ = try m.localize(x, classIndex: 3) } == .argument)
        #expect(code { _ = try m.localize(x, classIndex: -1) } == .argument)
        #expect(code { _ = try m.localize(x, topK: 0) } == .argument)
        #expect(code { _ = try m.localize(x, topK: 4) } == .argument)
        for t in [0, 1, -0.5, 1.5, .nan] as [Double] { #expect(code { _ = try m.localize(x, threshold: t) } == .argument) }
        #expect(code { _ = try m.localize(try Tensor(shape: [2, 3, 8, 8])) } == .argument)
        var nan = x
        nan.scalars[5] = .nan
        #expect(code { _ = try m.localize(nan) } == .argument)
        #expect(code { _ = try m.localize(x, outputSize: (0, 5)) } == .argument)
    }

    @Test func targetLayerErrorsListTheCandidates() throws {
        let m = try Self.smallModel(), x = try Self.input()
        for (name, fragment) in [("nope", "no tensor named 'nope'"), ("f", "has no spatial extent")] {
            do {
                _ = try m.localize(x, targetLayer: name)
                Issue.record("target '\(name)' accepted")
            } catch {
                #expect(error.code == .argument)
                #expect(error.message.contains(fragment) && error.message.contains("c, r"), "\(error.message)")
            }
        }
        // Naming the pre-activation tensor explicitly works and differs from the default.
        let byName = try m.localize(x, classIndex: 0, targetLayer: "c")
        #expect(byName.targetLayer == "c")
        #expect(try m.localize(x, classIndex: 0).targetLayer == "r")
    }

    @Test func plainCAMNeedsAGAPHead() throws {
        let m = try CAMModel(contentsOf: Fixtures.modelURL("tiny_vgg_fc"))
        let x = try Fixtures.npy("inputs/rocket_gray_64x64.npy")
        #expect(code { _ = try m.localize(x, method: .cam) } == .unsupported)
    }

    /// All-negative raw map: the lowres map is all zero, the final map is all
    /// zero, and the box is the whole image (every pixel is >= 0.2 * 0).
    @Test func allZeroMapGivesTheWholeImage() throws {
        let m = try Self.smallModel(), x = try Self.input()
        let r = try m.localize(x, classIndex: 2)
        #expect(r.predictions[0].lowres.allSatisfy { $0 == 0 })
        #expect(r.predictions[0].map.allSatisfy { $0 == 0 })
        #expect(r.predictions[0].box == Box(xMin: 0, yMin: 0, xMax: 7, yMax: 7))
        #expect(r.predictions[0].boxPixels == 64)
    }

    @Test func scoresAreSoftmaxAndRanksFollowLogits() throws {
        let m = try Self.smallModel(), x = try Self.input()
        let r = try m.localize(x, topK: 3)
        let logits = r.logits.map(Double.init)
        let total = logits.map { exp($0 - logits.max()!) }.reduce(0, +)
        for p in r.predictions {
            #expect(abs(Double(p.score) - exp(Double(p.logit) - logits.max()!) / total) < 1e-6)
        }
        #expect(r.predictions.map(\.logit) == r.predictions.map(\.logit).sorted(by: >))
        #expect(r.predictions.map(\.rank) == [1, 2, 3])
    }

    /// The top-k selection against a full sort, with ties (equal logits go
    /// in class order) and k from 1 to all classes.
    @Test func rankedClassesMatchAFullSort() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<50 {
            let n = 1 + trial % 23
            let logits = (0..<n).map { _ in Float(Int.random(in: -3...3, using: &rng)) / 2 }
            let sorted = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            for k in 1...n {
                #expect(try CAMModel.rankedClasses(logits, topK: k, classIndex: nil) == Array(sorted.prefix(k)))
            }
        }
    }

    /// The vectorized finite check against a plain scan: lengths around its
    /// 16-lane and 1024-value chunks, with NaN, +inf and -inf anywhere.
    @Test func firstNonFiniteMatchesAPlainScan() {
        var rng = SystemRandomNumberGenerator()
        let bad: [Float] = [.nan, .infinity, -.infinity]
        for n in [0, 1, 15, 16, 17, 1023, 1024, 1025, 2047, 2048, 2100] {
            var values = (0..<n).map { _ in Float.random(in: -1e30...1e30, using: &rng) }
            #expect(firstNonFinite(values) == nil)
            for trial in 0..<12 where n > 0 {
                var v = values
                for _ in 0...(trial % 3) { v[Int.random(in: 0..<n, using: &rng)] = bad[trial % 3] }
                #expect(firstNonFinite(v) == v.firstIndex { !$0.isFinite })
            }
            if n > 0 { values[n - 1] = .nan; #expect(firstNonFinite(values) == n - 1) }
        }
    }

    @Test func boxRules() {
        // Two components of 3 pixels each: the tie goes to the one met first
        // in row-major order, even though the second holds the maximum.
        let w = 6, h = 4
        var map = [Float](repeating: 0, count: w * h)
        for i in [7, 8, 9] { map[i] = 0.5 }            // row 1, x 1...3
        for i in [17, 22, 23] { map[i] = 1 }           // (5,2), (4,3), (5,3)
        #expect(Box.largestComponent(of: map, width: w, height: h, threshold: 0.4)! == (Box(xMin: 1, yMin: 1, xMax: 3, yMax: 1), 3))
        // Diagonal neighbours join (8-connectivity): (3,1) touches (4,2).
        map[16] = 0.5
        #expect(Box.largestComponent(of: map, width: w, height: h, threshold: 0.4)! == (Box(xMin: 1, yMin: 1, xMax: 5, yMax: 3), 7))
        // The threshold is inclusive: exactly 0.5 * max stays in.
        #expect(Box.largestComponent(of: map, width: w, height: h, threshold: 0.5)!.pixels == 7)
        #expect(Box.largestComponent(of: map, width: w, height: h, threshold: 0.51)!.pixels == 3)
        // A NaN map has no box.
        map[0] = .nan
        #expect(Box.largestComponent(of: map, width: w, height: h, threshold: 0.2) == nil)
        // IoU counts pixels inclusively: [0,0,1,1] and [1,1,2,2] share one of 4 + 4 - 1.
        #expect(Box(xMin: 0, yMin: 0, xMax: 1, yMax: 1).iou(Box(xMin: 1, yMin: 1, xMax: 2, yMax: 2)) == 1.0 / 7.0)
    }

    /// Grad-CAM on a GAP -> FC head equals plain CAM / (h * w) after the ReLU
    /// (fixtures README section 7), here on every tiny GAP model's top class.
    @Test func gradCAMEqualsScaledCAMOnGAPHeads() throws {
        for model in ["tiny_vgg_gap", "tiny_resnet", "tiny_inception"] {
            let m = try CAMModel(contentsOf: Fixtures.modelURL(model))
            let images = try Fixtures.manifest(model)["images"] as! [[String: Any]]
            let x = try Fixtures.npy(images[0]["input"] as! String)
            let g = try m.localize(x, method: .gradCAM, topK: 1), c = try m.localize(x, method: .cam, topK: 1)
            let hw = Float(g.lowresWidth * g.lowresHeight)
            let scale = c.predictions[0].lowres.map { abs($0) }.max()!
            for (a, b) in zip(g.predictions[0].lowres, c.predictions[0].lowres) {
                #expect(abs(a - max(b, 0) / hw) <= 1e-5 * scale)
            }
        }
    }
}
