import Dispatch
import Foundation
import Synchronization
import Testing
@testable import CAMKit

/// One CAMModel shared by several threads: plans are built on first use
/// under a lock, every call has its own workspace, and the kernels' thread
/// pool serves one call at a time. Every result must equal the one computed
/// alone. `make test` also runs this suite under ThreadSanitizer.
@Suite struct ConcurrencyTests {
    static let inputs = ["inputs/coffee_baseline_64x64.npy", "inputs/chelsea_rgba_64x64.npy", "inputs/rocket_palette_64x64.npy"]
    static let methods: [CAMMethod] = [.gradCAM, .eigenCAM, .ablationCAM, .layerCAM]

    struct Outcome: Equatable {
        var classes: [Int], boxes: [Box?], maps: [[Float]]
        init(_ r: CAMResult) {
            classes = r.predictions.map(\.classIndex)
            boxes = r.predictions.map(\.box)
            maps = r.predictions.map(\.map)
        }
    }

    @Test func threadsSharingOneModelGetTheSingleThreadedResults() throws {
        // A fresh model: its plans are first built by the racing threads.
        let model = try CAMModel(contentsOf: Fixtures.modelURL("tiny_resnet"))
        let reference = try CAMModel(contentsOf: Fixtures.modelURL("tiny_resnet"))
        let xs = try Self.inputs.map { try Fixtures.npy($0) }
        let expected = try Self.methods.map { m in try xs.map { Outcome(try reference.localize($0, method: m, topK: 3)) } }

        let threads = 6, rounds = 8
        let mismatches = Atomic<Int>(0), failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for round in 0..<rounds {
                let mi = (t + round) % Self.methods.count, xi = (t * 7 + round) % xs.count
                do {
                    let got = Outcome(try model.localize(xs[xi], method: Self.methods[mi], topK: 3))
                    if got != expected[mi][xi] { mismatches.add(1, ordering: .relaxed) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(mismatches.load(ordering: .relaxed) == 0)
    }

    @Test func batchOfImagesSpreadOverThreadsKeepsInputOrder() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("tiny_mobilenet"))
        let xs = try (0..<7).map { try Fixtures.npy(Self.inputs[$0 % Self.inputs.count]) }
        let alone = try xs.map { Outcome(try model.localize($0, method: .gradCAM, topK: 2)) }
        for threads in [1, 2, 4] {
            let together = try model.localize(each: xs, method: .gradCAM, topK: 2, threads: threads).map(Outcome.init)
            #expect(together == alone, "threads \(threads)")
        }
        // An error in one image is reported, not lost.
        var bad = xs
        bad[3] = try Tensor(shape: [1, 3, 64, 64], repeating: .nan)
        #expect(throws: CAMError.self) { _ = try model.localize(each: bad, threads: 2) }
    }

    @Test func threadLimitIsPerThreadAndRestored() {
        let before = Runtime.threads
        Runtime.withThreads(1) {
            #expect(Runtime.threads == 1)
            // Another thread keeps the process setting.
            let seen = Mutex<Int>(-1), done = DispatchSemaphore(value: 0)
            Thread { seen.withLock { $0 = Runtime.threads }; done.signal() }.start()
            done.wait()
            #expect(seen.withLock { $0 } == before)
        }
        #expect(Runtime.threads == before)
    }
}
