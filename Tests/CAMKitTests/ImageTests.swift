import Foundation
import Testing
@testable import CAMKit

/// Image files in, tensors and pictures out: decoding and preprocessing
/// against the fixtures' PIL/torchvision tensors, the overlay against
/// pytorch-grad-cam's formula, localization at the original size.
@Suite struct ImageTests {
    static let inputs: [(image: String, tensor: String, size: Int)] = {
        guard let data = try? Data(contentsOf: Fixtures.root.appendingPathComponent("index.json")),
              let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let inputs = index["inputs"] as? [String: [String: Any]] else { return [] }
        return inputs.values.map { ($0["image"] as! String, $0["input"] as! String, ($0["shape"] as! [Int])[2]) }
            .sorted { $0.tensor < $1.tensor }
    }()

    /// Decode (PIL rules), Pillow's antialiased bilinear resize, /255, ImageNet
    /// mean/std: the fixture tensor, bit for bit (within float rounding).
    @Test(arguments: inputs.map(\.tensor))
    func preprocessingReproducesTheFixtureTensor(_ tensor: String) throws {
        let entry = Self.inputs.first { $0.tensor == tensor }!
        let image = try Image(contentsOf: Fixtures.root.appendingPathComponent(entry.image))
        let (x, region) = try Preprocessing().tensor(from: image, height: entry.size, width: entry.size)
        let ref = try Fixtures.npy(tensor)
        #expect(region == Preprocessing.Region(x: 0, y: 0, width: image.width, height: image.height))
        let d = Fixtures.maxAbsDiff(x, ref)
        #expect(d <= 1e-6, "\(tensor): max abs diff \(d) (one uint8 level is 0.017)")
    }

    @Test func centerCropCoversTheMiddle() throws {
        // A 8x4 image whose columns are 0..7: cropping to 2x2 keeps the middle.
        var pixels: [UInt8] = []
        for _ in 0..<4 { for x in 0..<8 { pixels += [UInt8(x * 30), 0, 0] } }
        let image = try Image(width: 8, height: 4, pixels: pixels)
        let (x, region) = try Preprocessing(mean: [0, 0, 0], std: [1, 1, 1], resize: .centerCrop).tensor(from: image, height: 2, width: 2)
        #expect(region == Preprocessing.Region(x: 2, y: 0, width: 4, height: 4))
        #expect(x.shape == [1, 3, 2, 2])
        // Shorter side 4 -> 2 halves the image to 4x2; the middle two columns are
        // the averages of columns 2,3 and 4,5: 75 and 135.
        #expect(x.scalars[0] == Float(75) / 255 && x.scalars[1] == Float(135) / 255)
        #expect(throws: CAMError.self) { try Preprocessing(mean: [0, 0], std: [1, 1, 1]).tensor(from: image, height: 2, width: 2) }
        #expect(throws: CAMError.self) { try Preprocessing(std: [1, 0, 1]).tensor(from: image, height: 2, width: 2) }
    }

    /// The jet lookup table against OpenCV 5.0.0's COLORMAP_JET at a few
    /// levels (cv2.applyColorMap, as RGB), within one level.
    @Test func jetMatchesOpenCV() {
        let opencv: [Int: (Int, Int, Int)] = [0: (0, 0, 128), 1: (0, 0, 132), 32: (0, 0, 255), 64: (0, 128, 255),
                                              100: (18, 255, 238), 128: (130, 255, 126), 200: (255, 92, 0), 255: (128, 0, 0)]
        for (level, rgb) in opencv {
            let ours = Overlay.jet[level]
            #expect(abs(Int(ours.0) - rgb.0) <= 1 && abs(Int(ours.1) - rgb.1) <= 1 && abs(Int(ours.2) - rgb.2) <= 1, "level \(level)")
        }
    }

    /// show_cam_on_image: heat = jet[uint8(255 m)] / 255, out = 0.5 heat + 0.5 img / 255,
    /// uint8(255 out / max(out)); checked at a few pixels, then the boxes' outlines.
    @Test func overlayPixelsFollowTheFormula() throws {
        let w = 5, h = 4
        let pixels = (0..<(w * h * 3)).map { UInt8(($0 * 37) % 256) }
        let image = try Image(width: w, height: h, pixels: pixels)
        let map = (0..<(w * h)).map { Float($0) / Float(w * h - 1) }
        let out = try Overlay.blend(image, map: map)
        var mixed: [Float] = []
        for i in 0..<(w * h) {
            let heat = Overlay.jet[Int(255 * map[i])]
            for (c, v) in [heat.0, heat.1, heat.2].enumerated() { mixed.append(0.5 * Float(v) / 255 + 0.5 * Float(pixels[i * 3 + c]) / 255) }
        }
        let top = mixed.max()!
        for p in [0, 7, 13, 19] {
            for c in 0..<3 { #expect(out.pixels[p * 3 + c] == UInt8(255 * (mixed[p * 3 + c] / top)), "pixel \(p) channel \(c)") }
        }

        var boxed = out
        Overlay.drawBoxes([Box(xMin: 1, yMin: 1, xMax: 3, yMax: 2)], on: &boxed, thickness: 1)
        let white = Overlay.boxColors[0]
        for (x, y) in [(1, 1), (3, 1), (1, 2), (3, 2), (2, 1)] {
            let p = (y * w + x) * 3
            #expect(boxed.pixels[p] == white.0 && boxed.pixels[p + 1] == white.1 && boxed.pixels[p + 2] == white.2)
        }
        #expect(boxed.pixels[0..<3] == out.pixels[0..<3])   // outside the box: unchanged
    }

    /// On an image, the lowres map is the tensor path's, and the final map and
    /// box are that lowres map resized straight to the original size.
    @Test func localizeOnAnImageWorksAtTheOriginalSize() throws {
        let model = try CAMModel(contentsOf: Fixtures.modelURL("tiny_resnet"))
        let url = Fixtures.root.appendingPathComponent("images/coffee_baseline.jpg")
        let image = try Image(contentsOf: url)
        let r = try model.localize(image, topK: 2)
        #expect(r.mapWidth == 600 && r.mapHeight == 400)
        let t = try model.localize(try Fixtures.npy("inputs/coffee_baseline_64x64.npy"), topK: 2)
        for (a, b) in zip(r.predictions, t.predictions) {
            #expect(a.classIndex == b.classIndex)
            #expect(zip(a.lowres, b.lowres).allSatisfy { abs($0 - $1) <= 1e-5 })
            let final = try MapPipeline.final(b.lowres, method: .gradCAM, h: t.lowresHeight, w: t.lowresWidth, outH: 400, outW: 600)
            #expect(zip(a.map, final).allSatisfy { abs($0 - $1) <= 1e-4 })
            let box = Box.largestComponent(of: final, width: 600, height: 400, threshold: 0.2)?.box
            #expect(a.box == box)
        }
        let picture = try r.overlay(on: image)
        #expect(picture.width == 600 && picture.height == 400)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-overlay-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: file) }
        try picture.writePNG(to: file)
        #expect(try Image(contentsOf: file) == picture)
    }

    /// Bad image input: each a CAMError naming the file, never a crash.
    @Test func badImagesAreRefused() throws {
        let png = try Data(contentsOf: Fixtures.root.appendingPathComponent("images/rocket_palette.png"))
        let jpeg = try Data(contentsOf: Fixtures.root.appendingPathComponent("images/chelsea_progressive.jpg"))
        var variants: [(String, Data)] = [("text.png", Data("just some text\n".utf8)), ("empty.png", Data())]
        for (name, data) in [("png", png), ("jpeg", jpeg)] {
            for fraction in [0.001, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999] {
                variants.append(("\(name) cut at \(fraction)", data.prefix(Int(Double(data.count) * fraction))))
            }
            for offset in [3, 12, 20, 33, 100, 700, 5000] {
                var d = data
                d[offset] ^= 0x5A
                variants.append(("\(name) byte \(offset) flipped", d))
            }
        }
        var refused = 0
        for (name, data) in variants {
            do {
                let image = try Image(data: data, name: name)
                #expect(image.width > 0 && image.height > 0)
            } catch {
                #expect(error.message.contains(name), "\(error.message)")
                refused += 1
            }
        }
        #expect(variants.count >= 30 && refused >= 16, "\(refused) of \(variants.count) refused")
        // A pixel limit below the image's size refuses it before decoding.
        do { _ = try Image(data: png, name: "limited.png", maxPixels: 1000); Issue.record("limit ignored") } catch {
            #expect(error.code == .memory && error.message.contains("limited.png"))
        }
        do { _ = try Image(contentsOf: URL(fileURLWithPath: "/nonexistent.png")); Issue.record("missing file accepted") } catch {
            #expect(error.code == .io && error.message.contains("/nonexistent.png"))
        }
    }
}
