import Foundation
import Testing
@testable import CAMKit

/// The automatic target layer is the tensor each fixture's manifest names,
/// and plain CAM applies exactly where the manifest says.
@Suite struct ModelStructureTests {
    @Test(arguments: Fixtures.models)
    func defaultTargetAndPlainCAMMatchManifest(model: String) throws {
        let manifest = try Fixtures.manifest(model)
        let target = manifest["target_layer"] as! [String: Any]
        let plain = (manifest["plain_cam"] as! [String: Any])["applicable"] as! Bool
        let summary = try CAMModel(contentsOf: Fixtures.modelURL(model)).summary()
        #expect(summary.defaultTarget == target["onnx_tensor"] as? String)
        let shape = target["shape"] as! [Int]
        #expect(summary.candidates.first { $0.name == summary.defaultTarget }?.shape == shape)
        #expect(summary.plainCAM == plain)
        #expect(summary.outputs.map(\.shape) == [[1, manifest["num_classes"] as! Int]])
    }

    @Test func opCountsLeaveOutFoldedNodes() throws {
        // shufflenet's 302 Constant nodes become constants; its Shape
        // arithmetic stays in the graph but is folded in every plan.
        let m = try CAMModel(contentsOf: Fixtures.modelURL("shufflenet_v2_x0_5"))
        #expect(m.opCounts["Constant"] == nil)
        #expect(m.opCounts["Conv"] == 56)
        let p = try m.plan(for: [1, 3, 224, 224], exposing: [])
        #expect(!p.steps.contains { ["Shape", "Gather", "Cast", "Div", "Unsqueeze"].contains(m.graph.nodes[$0.node].opType) })
    }
}
