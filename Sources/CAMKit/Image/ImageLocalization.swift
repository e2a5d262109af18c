extension CAMModel {
    /// Class activation maps and boxes for an image: preprocessed to the
    /// model's input, localized, and the low-resolution maps resized
    /// straight to the ORIGINAL image size, so maps overlay the image and
    /// boxes are in its pixel coordinates. With center-crop preprocessing the
    /// maps cover the cropped region and are zero outside it.
    public func localize(_ image: Image, method: CAMMethod = .gradCAM, topK: Int = 5, classIndex: Int? = nil,
                         threshold: Double = 0.2, targetLayer: String? = nil,
                         preprocessing: Preprocessing = Preprocessing()) throws(CAMError) -> CAMResult {
        try localize(image, method: method, threshold: threshold, targetLayer: targetLayer, preprocessing: preprocessing) { logits throws(CAMError) in
            try CAMModel.rankedClasses(logits, topK: topK, classIndex: classIndex)
        }
    }

    /// The same, with the classes chosen by `select` from the logits.
    func localize(_ image: Image, method: CAMMethod, threshold: Double, targetLayer: String?, preprocessing: Preprocessing,
                  select: ([Float]) throws(CAMError) -> [Int]) throws(CAMError) -> CAMResult {
        let (x, region) = try imageInput(image, preprocessing: preprocessing)
        var result = try localize(x, method: method, threshold: threshold, targetLayer: targetLayer,
                                  outputSize: (region.height, region.width), select: select)
        guard region != Preprocessing.Region(x: 0, y: 0, width: image.width, height: image.height) else { return result }
        // Place the cropped region's maps and boxes in the whole image.
        for i in result.predictions.indices {
            result.predictions[i].map = region.place(result.predictions[i].map, inWidth: image.width, height: image.height)
            if let b = result.predictions[i].box { result.predictions[i].box = region.place(b) }
        }
        result.mapWidth = image.width
        result.mapHeight = image.height
        return result
    }

    /// The network input for an image and the region of the image it covers.
    func imageInput(_ image: Image, preprocessing: Preprocessing) throws(CAMError) -> (tensor: Tensor, region: Preprocessing.Region) {
        let shape = try defaultInputShape(batch: 1)
        guard shape.count == 4, shape[1] == 3 else {
            throw CAMError(.unsupported, "the model's input \(describeShape(graph.inputs[0].shape)) is not an RGB image [N, 3, H, W]")
        }
        return try preprocessing.tensor(from: image, height: shape[2], width: shape[3])
    }
}

extension Preprocessing.Region {
    /// A map of this region's size placed in a whole image of width x
    /// height, zero outside the region.
    func place(_ map: [Float], inWidth imageWidth: Int, height imageHeight: Int) -> [Float] {
        if x == 0, y == 0, width == imageWidth, height == imageHeight { return map }
        var full = [Float](repeating: 0, count: imageWidth * imageHeight)
        for row in 0..<height {
            let dst = (y + row) * imageWidth + x
            full.replaceSubrange(dst..<(dst + width), with: map[(row * width)..<((row + 1) * width)])
        }
        return full
    }

    /// A box in this region's coordinates moved to the whole image's.
    func place(_ b: Box) -> Box {
        Box(xMin: b.xMin + x, yMin: b.yMin + y, xMax: b.xMax + x, yMax: b.yMax + y)
    }
}
