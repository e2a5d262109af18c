import Foundation
import Testing
@testable import CAMKit

/// Every fixture model on every one of its images: logits and the target
/// layer's activation equal PyTorch's within 1e-4 * max(1, max |ref|).
@Suite struct ForwardFixtureTests {
    static let cases: [(model: String, image: String)] = Fixtures.models.flatMap { model in
        let images = (try? Fixtures.manifest(model)["images"] as? [[String: Any]]) ?? []
        return images.map { (model, $0["id"] as! String) }
    }

    @Test func fixturesArePresent() {
        #expect(Fixtures.models.count == 10, "expected the 10 fixture models under \(Fixtures.root.path)")
        #expect(Self.cases.count == 26)
    }

    @Test(arguments: cases)
    func logitsAndTargetActivationMatchPyTorch(model: String, image: String) throws {
        let manifest = try Fixtures.manifest(model)
        let images = manifest["images"] as! [[String: Any]]
        let entry = images.first { $0["id"] as? String == image }!
        let target = (manifest["target_layer"] as! [String: Any])["onnx_tensor"] as! String

        let camModel = try CAMModel(contentsOf: Fixtures.modelURL(model))
        let input = try Fixtures.npy(entry["input"] as! String)
        let (logits, tensors) = try camModel.forward(input, returning: [target])

        let refLogits = try Fixtures.npy("models/\(model)/\(image)/logits.npy")
        let refActivation = try Fixtures.npy("models/\(model)/\(image)/activations.npy")
        let dl = Fixtures.maxAbsDiff(logits, refLogits)
        let da = Fixtures.maxAbsDiff(tensors[target]!, refActivation)
        #expect(dl <= Fixtures.tolerance(refLogits), "logits differ by \(dl)")
        #expect(da <= Fixtures.tolerance(refActivation), "activation '\(target)' differs by \(da)")
    }

    /// The batch axis is free: three images in one batch give each image's
    /// own logits, whether the batch runs as one plan (one thread) or image
    /// by image on several threads.
    @Test(arguments: [1, 2, 3])
    func batchOfThreeEqualsThreeSingles(threads: Int) throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("tiny_resnet"))
        let manifest = try Fixtures.manifest("tiny_resnet")
        let entries = manifest["images"] as! [[String: Any]]
        var batch: [Float] = []
        var references: [Tensor] = []
        for e in entries {
            batch += try Fixtures.npy(e["input"] as! String).scalars
            references.append(try Fixtures.npy("models/tiny_resnet/\(e["id"] as! String)/logits.npy"))
        }
        let input = try Tensor(shape: [entries.count, 3, 64, 64], scalars: batch)
        let out = try Runtime.withThreads(threads) { () throws(CAMError) in try model.forward(input) }
        #expect(out.shape == [entries.count, 10])
        for (i, ref) in references.enumerated() {
            let row = try Tensor(shape: [1, 10], scalars: Array(out.scalars[(i * 10)..<((i + 1) * 10)]))
            #expect(Fixtures.maxAbsDiff(row, ref) <= Fixtures.tolerance(ref))
        }
    }

    /// Every fixture model, its images as one batch on two threads (the
    /// first one twice, so that a batch is never one image nor the same
    /// read backwards):
    /// each row equals PyTorch's logits for its image, through whatever cut
    /// the model's plan has (channel shuffles, Concat, squeeze-excitation,
    /// a convolutional classifier) or none.
    @Test(arguments: Fixtures.models)
    func batchOnTwoThreadsGivesEachImagesLogits(model name: String) throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL(name))
        var entries = try Fixtures.manifest(name)["images"] as! [[String: Any]]
        entries.insert(entries[0], at: 0)
        var batch: [Float] = []
        var references: [Tensor] = []
        var imageShape: [Int] = []
        for e in entries {
            let x = try Fixtures.npy(e["input"] as! String)
            imageShape = x.shape
            batch += x.scalars
            references.append(try Fixtures.npy("models/\(name)/\(e["id"] as! String)/logits.npy"))
        }
        let input = try Tensor(shape: [entries.count] + imageShape.dropFirst(), scalars: batch)
        let out = try Runtime.withThreads(2) { () throws(CAMError) in try model.forward(input) }
        let classes = references[0].count
        #expect(out.shape == [entries.count, classes])
        for (i, ref) in references.enumerated() {
            let row = try Tensor(shape: [1, classes], scalars: Array(out.scalars[(i * classes)..<((i + 1) * classes)]))
            #expect(Fixtures.maxAbsDiff(row, ref) <= Fixtures.tolerance(ref), "\(name) image \(i)")
        }
    }

    /// ResNet-18's four images as one batch on one thread: the batch's plan
    /// runs the 7x7 layers as Winograd F(4x4) with the tiles of all four
    /// images in each block (Winograd.tile: 16 tiles; one image alone runs
    /// F(2x2)), and each row is still its image's logits.
    @Test func batchWinogradAcrossImagesGivesEachImagesLogits() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("resnet18"))
        let entries = try Fixtures.manifest("resnet18")["images"] as! [[String: Any]]
        let order = [0, 1, 1, 0]
        var batch: [Float] = []
        var references: [Tensor] = []
        for i in order {
            batch += try Fixtures.npy(entries[i]["input"] as! String).scalars
            references.append(try Fixtures.npy("models/resnet18/\(entries[i]["id"] as! String)/logits.npy"))
        }
        let input = try Tensor(shape: [order.count, 3, 224, 224], scalars: batch)
        let out = try Runtime.withThreads(1) { () throws(CAMError) in try model.forward(input) }
        #expect(out.shape == [order.count, 1000])
        for (i, ref) in references.enumerated() {
            let row = try Tensor(shape: [1, 1000], scalars: Array(out.scalars[(i * 1000)..<((i + 1) * 1000)]))
            #expect(Fixtures.maxAbsDiff(row, ref) <= Fixtures.tolerance(ref), "image \(i)")
        }
    }

    /// A batch on two threads runs image by image up to its cut (BatchCut.swift),
    /// ResNet-18's layer4.0 output, the first value from which all are 7x7 or
    /// smaller, and as one batch after it. The batch's plan makes transformed
    /// weights only for the layers after the cut: at batch 5, Winograd
    /// F(4x4) for layer4.1's two 3x3 convolutions (one image alone runs
    /// F(2x2)); the layers before it, which it never runs, get none.
    @Test func splitBatchTransformsOnlyTheLayersAfterItsCut() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("resnet18"))
        let x = try Fixtures.npy((try Fixtures.manifest("resnet18")["images"] as! [[String: Any]])[0]["input"] as! String)
        _ = try Runtime.withThreads(2) { () throws(CAMError) in try model.forward(x) }
        let single = model.weightCache.count
        let batch = try Tensor(shape: [5, 3, 224, 224], scalars: Array([[Float]](repeating: x.scalars, count: 5).joined()))
        let out = try Runtime.withThreads(2) { () throws(CAMError) in try model.forward(batch) }
        #expect(out.shape == [5, 1000])
        let cut = try #require(try model.batchCut([5, 3, 224, 224], imagePlan: model.plan(for: [1, 3, 224, 224], exposing: [])))
        #expect(model.graph.valueNames[cut.value] == "/layer4/layer4.0/relu_1/Relu_output_0")
        #expect(single > 0 && model.weightCache.count == single + 2,
                "transformed weights: \(single) after one image, \(model.weightCache.count) after the batch")
        // A batch that runs as a batch (one thread) makes its own, as it should.
        _ = try Runtime.withThreads(1) { () throws(CAMError) in try model.forward(batch) }
        #expect(model.weightCache.count > single + 2)
    }

    /// The cuts of ResNet-18's plan are where one tensor alone carries the
    /// network on: after the stem's ReLU, the max pool, each of the eight
    /// residual blocks (their last ReLU), the global pool and the flatten;
    /// never inside a block, where the shortcut is live beside the branch.
    @Test func resnetCutsAreTheBlockBoundaries() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("resnet18"))
        let plan = try model.plan(for: [1, 3, 224, 224], exposing: [])
        let names = plan.cuts().map { model.graph.valueNames[$0.value] }
        var expected = ["/relu/Relu_output_0", "/maxpool/MaxPool_output_0"]
        for layer in 1...4 { for block in 0...1 { expected.append("/layer\(layer)/layer\(layer).\(block)/relu_1/Relu_output_0") } }
        expected += ["/avgpool/GlobalAveragePool_output_0", "/Flatten_output_0"]
        #expect(names == expected)
        for cut in plan.cuts() { #expect(plan.steps[cut.step].outputs.contains(cut.value)) }
    }
}
