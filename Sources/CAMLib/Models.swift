// Loading models and their load-time options.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CAMKit
import CCAMKernels

/// What a cam_model handle points at: the shared, immutable model and how
/// cam_localize prepares images for it.
final class ModelBox: Sendable {
    let model: CAMModel
    let preprocessing: Preprocessing
    let threads: Int          // per call; 0: the process default

    init(model: CAMModel, preprocessing: Preprocessing, threads: Int) {
        self.model = model
        self.preprocessing = preprocessing
        self.threads = threads
    }
}

@c @implementation
public func cam_options_init(_ opts: UnsafeMutablePointer<cam_options>?) {
    guard let opts else { return }
    opts.pointee = cam_options(struct_size: UInt32(MemoryLayout<cam_options>.stride), method: CAM_METHOD_GRADCAM,
                               top_k: 5, class_index: -1, threshold: 0.2, target_layer: nil)
}

@c @implementation
public func cam_model_options_init(_ opts: UnsafeMutablePointer<cam_model_options>?) {
    guard let opts else { return }
    let mean = Preprocessing.imageNetMean, std = Preprocessing.imageNetStd
    opts.pointee = cam_model_options(struct_size: UInt32(MemoryLayout<cam_model_options>.stride),
                                     input_width: 0, input_height: 0,
                                     mean: (mean[0], mean[1], mean[2]), std: (std[0], std[1], std[2]),
                                     resize: CAM_RESIZE_STRETCH, threads: 0, max_nodes: 0,
                                     max_model_bytes: 0, max_tensor_elements: 0, max_image_pixels: 0)
}

@c @implementation
public func cam_model_load(_ onnx_path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                           _ err: UnsafeMutablePointer<OpaquePointer?>?) -> cam_status {
    cam_model_load_with_options(onnx_path, nil, out, err)
}

@c @implementation
public func cam_model_load_with_options(_ onnx_path: UnsafePointer<CChar>?, _ opts: UnsafePointer<cam_model_options>?,
                                        _ out: UnsafeMutablePointer<OpaquePointer?>?,
                                        _ err: UnsafeMutablePointer<OpaquePointer?>?) -> cam_status {
    capture(err) { () throws(CAMError) in
        guard let out else { throw argument("cam_model_load: out is NULL") }
        out.pointee = nil
        let path = try string(onnx_path, "cam_model_load: onnx_path")
        var options = cam_model_options()
        cam_model_options_init(&options)
        if let opts { options = try readOptions(opts, name: "cam_model_options") }
        let settings = try LoadSettings(options)
        let model = try CAMModel(contentsOf: URL(fileURLWithPath: path), inputSize: settings.inputSize, limits: settings.limits)
        out.pointee = handle(ModelBox(model: model, preprocessing: settings.preprocessing, threads: settings.threads))
    }
}

@c @implementation
public func cam_model_free(_ m: OpaquePointer?) {
    guard let m else { return }
    release(m, as: ModelBox.self)
}

@c @implementation
public func cam_model_input_size(_ m: OpaquePointer?, _ width: UnsafeMutablePointer<Int32>?,
                                 _ height: UnsafeMutablePointer<Int32>?) -> cam_status {
    capture(nil) { () throws(CAMError) in
        guard let m, let width, let height else { throw argument("cam_model_input_size: NULL argument") }
        let shape = try object(m, as: ModelBox.self).model.defaultInputShape(batch: 1)
        guard shape.count == 4 else { throw CAMError(.unsupported, "the model's input is not [N, C, H, W]") }
        width.pointee = Int32(shape[3])
        height.pointee = Int32(shape[2])
    }
}

@c @implementation
public func cam_model_class_count(_ m: OpaquePointer?) -> Int32 {
    guard let m, let count = object(m, as: ModelBox.self).model.classCount else { return -1 }
    return Int32(clamping: count)
}

/// cam_model_options, checked.
private struct LoadSettings {
    var inputSize: (height: Int, width: Int)?
    var preprocessing: Preprocessing
    var threads: Int
    var limits = Limits()

    init(_ o: cam_model_options) throws(CAMError) {
        let w = Int(o.input_width), h = Int(o.input_height)
        switch (w, h) {
        case (0, 0): inputSize = nil
        case (1...32768, 1...32768): inputSize = (h, w)
        default: throw argument("cam_model_options: input size \(w)x\(h) must be 0x0 (from the model) or 1 to 32768 on each side")
        }
        let mean = [o.mean.0, o.mean.1, o.mean.2], std = [o.std.0, o.std.1, o.std.2]
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw argument("cam_model_options: mean \(mean) must be finite and std \(std) finite and non-zero")
        }
        let resize: Preprocessing.Resize
        switch o.resize {
        case CAM_RESIZE_STRETCH: resize = .stretch
        case CAM_RESIZE_CENTER_CROP: resize = .centerCrop
        default: throw argument("cam_model_options: resize \(Int32(bitPattern: o.resize.rawValue)) is not a cam_resize value")
        }
        guard (0...1024).contains(o.threads) else {
            throw argument("cam_model_options: threads \(o.threads) must be 0 (the default) to 1024")
        }
        preprocessing = Preprocessing(mean: mean, std: std, resize: resize)
        threads = Int(o.threads)
        // 0 keeps the default; cam.h promises CAM_ERR_ARGUMENT, not a clamp,
        // for a value over the maximum, so a typo cannot pass unnoticed.
        let fields: [(String, Int64, WritableKeyPath<Limits, Int>)] = [
            ("max_model_bytes", o.max_model_bytes, \.modelBytes), ("max_nodes", Int64(o.max_nodes), \.nodes),
            ("max_tensor_elements", o.max_tensor_elements, \.tensorElements), ("max_image_pixels", o.max_image_pixels, \.imagePixels),
        ]
        for (name, value, field) in fields where value != 0 {
            let maximum = Limits.maximum[keyPath: field]
            guard value > 0, value <= maximum else {
                throw argument("cam_model_options: \(name) \(value) must be 0 (the default, \(Limits.default[keyPath: field])) or \(Limits.range(maximum))")
            }
            limits[keyPath: field] = Int(value)
        }
    }
}
