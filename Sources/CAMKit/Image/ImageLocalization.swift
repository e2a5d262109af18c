extension CAMModel {
    /// Class activation maps and boxes for an image: preprocessed to the
    /// model's input, localized, and the low-resolution maps resized
    /// straight to the ORIGINAL image size, so maps overlay the image and
    /// boxes are in its pixel coordinates. With center-crop preprocessing the
    /// maps cover the cropped region and are zero outside it.
    public func localize(_ image: Image, method: CAMMethod = .gradCAM, topK: Int = 5, classIndex: Int? = nil,
                         threshold: Double = 0.2, targetLayer: String? = nil,
                         preprocessing: Preprocessing = Preprocessing()) throws(CAMError) -> CAMResult {
        let shape = try defaultInputShape(batch: 1)
        guard shape.count == 4, shape[1] == 3 else {
            throw CAMError(.unsupported, "the model's input \(describeShape(graph.inputs[0].shape)) is not an RGB image [N, 3, H, W]")
        }
        let (x, region) = try preprocessing.tensor(from: image, height: shape[2], width: shape[3])
        var result = try localize(x, method: method, topK: topK, classIndex: classIndex, threshold: threshold,
                                  targetLayer: targetLayer, outputSize: (region.height, region.width))
        guard region != Preprocessing.Region(x: 0, y: 0, width: image.width, height: image.height) else { return result }
        // Place the cropped region's maps and boxes in the whole image.
        for i in result.predictions.indices {
            var full = [Float](repeating: 0, count: image.width * image.height)
            let map = result.predictions[i].map
            for row in 0..<region.height {
                let dst = (region.y + row) * image.width + region.x
                full.replaceSubrange(dst..<(dst + region.width), with: map[(row * region.width)..<((row + 1) * region.width)])
            }
            result.predictions[i].map = full
            if let b = result.predictions[i].box {
                result.predictions[i].box = Box(xMin: b.xMin + region.x, yMin: b.yMin + region.y, xMax: b.xMax + region.x, yMax: b.yMax + region.y)
            }
        }
        result.mapWidth = image.width
        result.mapHeight = image.height
        return result
    }
}
