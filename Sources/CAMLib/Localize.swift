// cam_localize and cam_localize_tensor: C arguments checked and turned into
// one call of CAMKit's pipeline, the same one the command line runs.
import CAMKit
import CCAMKernels

@c @implementation
public func cam_localize(_ m: OpaquePointer?, _ img: UnsafePointer<cam_image>?, _ opts: UnsafePointer<cam_options>?,
                         _ out: UnsafeMutablePointer<OpaquePointer?>?, _ err: UnsafeMutablePointer<OpaquePointer?>?) -> cam_status {
    capture(err) { () throws(CAMError) in
        guard let out else { throw argument("cam_localize: out is NULL") }
        out.pointee = nil
        guard let m else { throw argument("cam_localize: model is NULL") }
        guard let img else { throw argument("cam_localize: image is NULL") }
        let box = object(m, as: ModelBox.self)
        let request = try Request(opts, model: box.model)
        let image = try rgbImage(img.pointee, maxPixels: box.model.limits.imagePixels)
        let result = try Runtime.withThreads(box.threads) { () throws(CAMError) in
            try box.model.localize(image, method: request.method, topK: request.topK, classIndex: request.classIndex,
                                   threshold: request.threshold, targetLayer: request.targetLayer,
                                   preprocessing: box.preprocessing)
        }
        out.pointee = handle(ResultBox(result))
    }
}

@c @implementation
public func cam_localize_tensor(_ m: OpaquePointer?, _ nchw: UnsafePointer<Float>?, _ height: Int32, _ width: Int32,
                                _ opts: UnsafePointer<cam_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                _ err: UnsafeMutablePointer<OpaquePointer?>?) -> cam_status {
    capture(err) { () throws(CAMError) in
        guard let out else { throw argument("cam_localize_tensor: out is NULL") }
        out.pointee = nil
        guard let m else { throw argument("cam_localize_tensor: model is NULL") }
        guard let nchw else { throw argument("cam_localize_tensor: nchw is NULL") }
        let box = object(m, as: ModelBox.self), model = box.model
        let declared = model.declaredInputShape
        guard declared.count == 4, let channels = declared[1] else {
            throw CAMError(.unsupported, "cam_localize_tensor: the model's input is not [N, C, H, W] with a fixed C")
        }
        guard (1...32768).contains(height), (1...32768).contains(width) else {
            throw argument("cam_localize_tensor: size \(width)x\(height) must be 1 to 32768 on each side")
        }
        let count = channels * Int(height) * Int(width)
        guard count <= model.limits.tensorElements else {
            throw CAMError(.memory, "cam_localize_tensor: \(channels)x\(height)x\(width) = \(count) values, over the limit of \(model.limits.tensorElements) (cam_model_options.max_tensor_elements)")
        }
        let request = try Request(opts, model: model)
        let scalars = Array(UnsafeBufferPointer(start: nchw, count: count))
        // cam.h promises CAM_ERR_FORMAT for NaN or Inf in the data; CAMKit's
        // own check reports a bad input as an argument error.
        if let bad = firstNonFinite(scalars) {
            let plane = Int(height) * Int(width)
            let value = scalars[bad].isNaN ? "NaN" : scalars[bad] > 0 ? "+Inf" : "-Inf"
            throw CAMError(.format, "cam_localize_tensor: nchw holds \(value) at index \(bad) (channel \(bad / plane), row \((bad % plane) / Int(width)), column \(bad % Int(width)))")
        }
        let input = try Tensor(shape: [1, channels, Int(height), Int(width)], scalars: scalars)
        let result = try Runtime.withThreads(box.threads) { () throws(CAMError) in
            try model.localize(input, method: request.method, topK: request.topK, classIndex: request.classIndex,
                               threshold: request.threshold, targetLayer: request.targetLayer)
        }
        out.pointee = handle(ResultBox(result))
    }
}

/// cam_options, checked against the model.
private struct Request {
    var method: CAMMethod
    var topK: Int
    var classIndex: Int?
    var threshold: Double
    var targetLayer: String?

    init(_ pointer: UnsafePointer<cam_options>?, model: CAMModel) throws(CAMError) {
        var o = cam_options()
        cam_options_init(&o)
        if let pointer { o = try readOptions(pointer, name: "cam_options") }
        let methods: [cam_method: CAMMethod] = [
            CAM_METHOD_CAM: .cam, CAM_METHOD_GRADCAM: .gradCAM, CAM_METHOD_GRADCAM_PLUSPLUS: .gradCAMPlusPlus,
            CAM_METHOD_XGRADCAM: .xGradCAM, CAM_METHOD_HIRESCAM: .hiResCAM, CAM_METHOD_LAYERCAM: .layerCAM,
            CAM_METHOD_EIGENCAM: .eigenCAM, CAM_METHOD_SCORECAM: .scoreCAM, CAM_METHOD_ABLATIONCAM: .ablationCAM,
        ]
        guard let method = methods[o.method] else {
            // Signed, as the C caller wrote it (the enum imports as UInt32).
            throw argument("cam_options.method \(Int32(bitPattern: o.method.rawValue)) is not a cam_method value (0 to 8)")
        }
        self.method = method
        if o.class_index >= 0 {
            classIndex = Int(o.class_index)
            topK = 1
        } else {
            guard o.class_index == -1 else { throw argument("cam_options.class_index \(o.class_index) must be -1 (top-k) or a class") }
            guard o.top_k >= 1 else { throw argument("cam_options.top_k \(o.top_k) must be at least 1") }
            // More than the model has means all of them (the default 5 on a 3-class model).
            topK = min(Int(o.top_k), model.classCount ?? Int(o.top_k))
        }
        guard o.threshold > 0, o.threshold < 1 else {
            throw argument("cam_options.threshold \(o.threshold) must be in (0, 1)")
        }
        threshold = Double(o.threshold)
        targetLayer = o.target_layer.map { String(cString: $0) }
    }
}

/// A cam_image as CAMKit's packed RGB image (gray replicated, alpha dropped).
private func rgbImage(_ img: cam_image, maxPixels: Int) throws(CAMError) -> Image {
    let w = Int(img.width), h = Int(img.height), c = Int(img.channels), stride = Int(img.row_bytes)
    guard let pixels = img.pixels else { throw argument("cam_image.pixels is NULL") }
    guard w >= 1, h >= 1 else { throw argument("cam_image size \(w)x\(h) must be at least 1x1") }
    guard [1, 3, 4].contains(c) else { throw argument("cam_image.channels is \(c); it must be 1, 3 or 4") }
    guard stride >= w * c else { throw argument("cam_image.row_bytes \(stride) is less than width x channels = \(w * c)") }
    guard w * h <= maxPixels else {
        throw CAMError(.memory, "cam_image of \(w)x\(h) = \(w * h) pixels is over the limit of \(maxPixels) (cam_model_options.max_image_pixels)")
    }
    var rgb = [UInt8](repeating: 0, count: w * h * 3)
    rgb.withUnsafeMutableBufferPointer { dst in
        for y in 0..<h {
            let row = pixels + y * stride
            let out = dst.baseAddress! + y * w * 3
            switch c {
            case 3:
                out.update(from: row, count: w * 3)
            case 1:
                for x in 0..<w { let v = row[x]; out[3 * x] = v; out[3 * x + 1] = v; out[3 * x + 2] = v }
            default:
                for x in 0..<w { out[3 * x] = row[4 * x]; out[3 * x + 1] = row[4 * x + 1]; out[3 * x + 2] = row[4 * x + 2] }
            }
        }
    }
    return try Image(width: w, height: h, pixels: rgb)
}
