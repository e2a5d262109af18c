import Foundation
import Testing
@testable import CAMKit

/// `CAMModel.profileForward` (what `camkit bench --profile` prints): one
/// entry per planned step, fused ops named, and multiply-adds that add up
/// to ResNet-18's closed-form count.
@Suite struct ProfileTests {
    @Test func resnet18StepsAndMultiplyAdds() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("resnet18"))
        let x = try Tensor(shape: [1, 3, 224, 224], scalars: (0..<(3 * 224 * 224)).map { Float($0 % 97) / 48 - 1 })
        let steps = try model.profileForward(x, runs: 2)

        // Direct convolution: output channels x positions x (c_in x k x k).
        // The stem, then per stage (channels, side): the first conv (stride 2
        // after layer1), three more 3x3, and a 1x1 downsample; then the FC.
        var expected = 64 * 112 * 112 * (3 * 7 * 7)
        for (stage, (c, side)) in [(64, 56), (128, 28), (256, 14), (512, 7)].enumerated() {
            let cIn = stage == 0 ? 64 : c / 2
            expected += c * side * side * (cIn * 9) + 3 * c * side * side * (c * 9)
            if stage > 0 { expected += c * side * side * cIn }
        }
        expected += 1000 * 512
        #expect(steps.reduce(0) { $0 + $1.multiplyAdds } == expected)

        // 20 convolutions: 9 with their ReLU, 8 ending a block (+ Add + ReLU),
        // 3 downsamples alone; MaxPool, GlobalAveragePool, Flatten, Gemm.
        let ops = steps.map { $0.ops.joined(separator: "+") }
        #expect(ops.filter { $0 == "Conv+Relu" }.count == 9)
        #expect(ops.filter { $0 == "Conv+Add+Relu" }.count == 8)
        #expect(ops.filter { $0 == "Conv" }.count == 3)
        #expect(Set(ops.filter { !$0.hasPrefix("Conv") }) == ["MaxPool", "GlobalAveragePool", "Flatten", "Gemm"])
        #expect(steps.count == 24)
        #expect(steps.first?.name == "/conv1/Conv" && steps.first?.outputShape == [1, 64, 112, 112])
        #expect(steps.last?.ops == ["Gemm"] && steps.last?.outputShape == [1, 1000])
        #expect(steps.allSatisfy { $0.milliseconds >= 0 })
        #expect(steps.filter { $0.multiplyAdds > 0 }.allSatisfy { $0.milliseconds > 0 })
    }

    @Test func runsMustBePositive() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("tiny_resnet"))
        let shape = try model.defaultInputShape(batch: 1)
        let x = try Tensor(shape: shape, scalars: [Float](repeating: 0.5, count: shape.reduce(1, *)))
        #expect(throws: CAMError.self) { try model.profileForward(x, runs: 0) }
    }
}
