import Foundation
import Testing
@testable import CAMKit

/// The metrics on tiny synthetic cases whose answers are worked out by hand
/// (closed forms), and the 100-threshold box sweep against one flood fill
/// per threshold.
@Suite struct EvalMetricTests {
    static func object(_ c: Int, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> GroundTruthObject {
        GroundTruthObject(classIndex: c, box: Box(xMin: x0, yMin: y0, xMax: x1, yMax: y1), source: "test")
    }
    static func box(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Box { Box(xMin: x0, yMin: y0, xMax: x1, yMax: y1) }

    /// IoU counts pixels inclusively: [0,0,9,9] holds 100 pixels, [0,0,9,4] 50.
    @Test func iouCountsPixelsInclusively() {
        #expect(Self.box(0, 0, 9, 9).iou(Self.box(0, 0, 9, 4)) == 0.5)
        #expect(Self.box(0, 0, 9, 9).iou(Self.box(0, 0, 9, 3)) == 0.4)
        #expect(Self.box(0, 0, 0, 0).iou(Self.box(0, 0, 1, 0)) == 0.5)
        #expect(Self.box(0, 0, 4, 4).iou(Self.box(5, 5, 9, 9)) == 0)
        // Overlap of one pixel: 1 / (25 + 25 - 1).
        #expect(Self.box(0, 0, 4, 4).iou(Self.box(4, 4, 8, 8)) == 1.0 / 49)
    }

    static func score(truth: [GroundTruthObject], predictions: [Int], boxes: [Int: Box?], sweeps: [Int: [Box?]] = [:]) -> ImageOutcome {
        ImageOutcome.score(file: "x.png", width: 20, height: 20, truth: truth, predictions: predictions, boxes: boxes, sweeps: sweeps)
    }

    /// IoU exactly 0.5 is right (>= 0.5); 0.4 is not.
    @Test func theHalfIsRight() {
        let truth = [Self.object(3, 0, 0, 9, 9)]
        let right = Self.score(truth: truth, predictions: [3, 1, 2, 4, 5], boxes: [3: Self.box(0, 0, 9, 4)])
        #expect(right.clsTop1 && right.clsTop5 && right.locTop1 && right.locTop5 && right.gtKnown)
        #expect(right.top1IoU == 0.5 && right.gtIoU == 0.5 && right.gtClass == 3)
        let wrong = Self.score(truth: truth, predictions: [3, 1, 2, 4, 5], boxes: [3: Self.box(0, 0, 9, 3)])
        #expect(wrong.clsTop1 && !wrong.locTop1 && !wrong.locTop5 && !wrong.gtKnown)
    }

    /// A wrong top-1 class makes top-1 localization wrong whatever its box;
    /// top-5 and GT-known use the true class's own box.
    @Test func wrongTop1ClassButRightTrueClassBox() {
        let truth = [Self.object(2, 5, 5, 14, 14)]
        let o = Self.score(truth: truth, predictions: [7, 1, 2, 0, 3],
                           boxes: [7: Self.box(5, 5, 14, 14), 2: Self.box(5, 5, 14, 12)])
        #expect(!o.clsTop1 && o.clsTop5)
        #expect(!o.locTop1 && o.top1IoU == 0, "class 7 has no ground truth, so no IoU")
        #expect(o.locTop5 && o.gtKnown && o.gtIoU == 80.0 / 100)
        // The true class outside the top 5: top-5 wrong, GT-known still right.
        let out = Self.score(truth: truth, predictions: [7, 1, 0, 3, 4], boxes: [7: Self.box(0, 0, 1, 1), 2: Self.box(5, 5, 14, 14)])
        #expect(!out.clsTop5 && !out.locTop5 && out.gtKnown)
    }

    /// Several boxes of one class: the best one counts. Two classes: any
    /// true class with a right box makes top-5 and GT-known right.
    @Test func severalObjectsAndClasses() {
        let truth = [Self.object(1, 0, 0, 3, 3), Self.object(1, 10, 10, 13, 13), Self.object(4, 0, 10, 9, 19)]
        // Class 1's box matches the second object exactly; class 4's box misses.
        let o = Self.score(truth: truth, predictions: [4, 1, 0, 2, 3], boxes: [4: Self.box(15, 0, 19, 4), 1: Self.box(10, 10, 13, 13)])
        #expect(o.labels == [1, 4])
        #expect(o.clsTop1 && !o.locTop1)
        #expect(o.locTop5 && o.gtKnown && o.gtClass == 1 && o.gtIoU == 1)
    }

    /// The tally: fractions of the counts, and MaxBoxAcc's best threshold,
    /// the smallest one on a tie.
    @Test func tallyFractionsAndBestThreshold() throws {
        var tally = EvalTally()
        let hitsA = (0..<100).map { $0 >= 30 && $0 < 60 }
        let hitsB = (0..<100).map { $0 >= 40 && $0 < 80 }
        let hitsC = (0..<100).map { $0 == 10 }
        let base = Self.score(truth: [Self.object(0, 0, 0, 1, 1)], predictions: [0, 1, 2, 3, 4], boxes: [0: Self.box(0, 0, 1, 1)])
        var a = base; a.hits = hitsA
        var b = base; b.hits = hitsB; b.clsTop1 = false; b.locTop1 = false
        var c = base; c.hits = hitsC; c.gtKnown = false; c.locTop5 = false; c.locTop1 = false
        var d = base; d.hits = [Bool](repeating: false, count: 100); d.clsTop5 = false; d.clsTop1 = false
        d.locTop1 = false; d.locTop5 = false; d.gtKnown = false
        for o in [a, b, c, d] { tally.add(o) }
        let m = try #require(tally.metrics)
        #expect(m.n == 4)
        #expect(m.clsTop1Err == 0.5 && m.clsTop5Err == 0.25)
        #expect(m.locTop1Err == 0.75 && m.locTop5Err == 0.5 && m.gtKnownLocAcc == 0.5)
        // Thresholds 40 ... 59 have two hits (A and B): the best, first at 0.40.
        #expect(m.maxBoxAcc == 0.5 && m.maxBoxAccThreshold == 0.40)
        #expect(m.boxAccPerThreshold[10] == 0.25 && m.boxAccPerThreshold[35] == 0.25 && m.boxAccPerThreshold[99] == 0)
        #expect(EvalTally().metrics == nil)
    }

    /// A 10 x 10 map: 1 on [2,2,5,5] (16 pixels), 0.5 on the ring to
    /// [1,1,6,6] (36 pixels in all), 0 elsewhere. At t = 0 every pixel is
    /// kept (the whole image); for 0 < t <= 0.5 the ring's box; for t > 0.5
    /// the inner box. So with the ground truth [1,1,6,6] GT-known hits at
    /// i = 1 ... 50 (the inner box: IoU 16 / 36 < 0.5; the image: 36 / 100),
    /// and with [2,2,5,5] at i = 51 ... 99.
    @Test func maxBoxAccOnAClosedFormMap() {
        var map = [Float](repeating: 0, count: 100)
        for y in 1...6 { for x in 1...6 { map[y * 10 + x] = 0.5 } }
        for y in 2...5 { for x in 2...5 { map[y * 10 + x] = 1 } }
        let boxes = Box.largestComponents(of: map, width: 10, height: 10, thresholds: EvalTally.thresholds).map { $0?.box }
        #expect(boxes[0] == Self.box(0, 0, 9, 9))
        #expect(boxes[1...50].allSatisfy { $0 == Self.box(1, 1, 6, 6) })
        #expect(boxes[51...].allSatisfy { $0 == Self.box(2, 2, 5, 5) })
        let outer = Self.score(truth: [Self.object(0, 1, 1, 6, 6)], predictions: [0], boxes: [0: boxes[20]], sweeps: [0: boxes])
        #expect(outer.hits == (0..<100).map { $0 >= 1 && $0 <= 50 })
        let inner = Self.score(truth: [Self.object(0, 2, 2, 5, 5)], predictions: [0], boxes: [0: boxes[20]], sweeps: [0: boxes])
        #expect(inner.hits == (0..<100).map { $0 >= 51 })
    }

    /// Equal components: the one whose first pixel comes first in row-major
    /// order wins, at every threshold, in the sweep as in one flood fill.
    @Test func tiesGoToTheFirstComponentInRowMajorOrder() {
        // Two 2-pixel blobs: one at (7,0)-(8,0) (first pixel index 7), one at (0,1)-(1,1) (index 10).
        var map = [Float](repeating: 0, count: 30)
        map[7] = 1; map[8] = 1; map[10] = 1; map[11] = 1
        let sweep = Box.largestComponents(of: map, width: 10, height: 3, thresholds: [0.5])
        #expect(sweep[0]?.box == Self.box(7, 0, 8, 0) && sweep[0]?.pixels == 2)
        #expect(Box.largestComponent(of: map, width: 10, height: 3, threshold: 0.5)?.box == Self.box(7, 0, 8, 0))
    }

    /// Random maps with plateaus and ties: the sweep gives, at each of the
    /// 100 thresholds, what one flood fill per threshold gives.
    @Test func sweepEqualsOneFloodFillPerThreshold() {
        var rng = SplitMix(seed: 99)
        for trial in 0..<40 {
            let w = 1 + Int(rng.next() % 23), h = 1 + Int(rng.next() % 17)
            let levels = [2, 5, 101, 1000][trial % 4]
            var map = (0..<(w * h)).map { _ in Float(rng.next() % UInt64(levels)) / Float(levels - 1) }
            if trial % 7 == 0 { map = map.map { $0 * 0.3 } }             // max below 1
            if trial % 11 == 0 { map = [Float](repeating: 0, count: w * h) }   // all zero: the whole map
            let sweep = Box.largestComponents(of: map, width: w, height: h, thresholds: EvalTally.thresholds)
            for (i, t) in EvalTally.thresholds.enumerated() {
                let one = Box.largestComponent(of: map, width: w, height: h, threshold: t)
                #expect(sweep[i]?.box == one?.box && sweep[i]?.pixels == one?.pixels, "trial \(trial) (\(w)x\(h)), t = \(t)")
            }
        }
    }
}
