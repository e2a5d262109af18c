// Results: boxes copied out, maps lent until the result is freed.
import CAMKit
import CCAMKernels

/// What a cam_result handle points at. Maps live in buffers owned here so
/// the pointers cam_result_map returns stay put until cam_result_free.
final class ResultBox {
    let boxes: [cam_box]
    let maps: [UnsafeMutableBufferPointer<Float>]
    let width: Int32, height: Int32

    init(_ result: CAMResult) {
        boxes = result.predictions.map { p in
            let b = p.box
            return cam_box(class_index: Int32(p.classIndex), score: p.score, logit: p.logit,
                           x_min: Int32(b?.xMin ?? -1), y_min: Int32(b?.yMin ?? -1),
                           x_max: Int32(b?.xMax ?? -1), y_max: Int32(b?.yMax ?? -1))
        }
        maps = result.predictions.map { p in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.map.count)
            _ = buffer.initialize(from: p.map)
            return buffer
        }
        width = Int32(result.mapWidth)
        height = Int32(result.mapHeight)
    }

    deinit { for m in maps { m.deallocate() } }
}

@c @implementation
public func cam_result_count(_ r: OpaquePointer?) -> Int32 {
    guard let r else { return 0 }
    return Int32(object(r, as: ResultBox.self).boxes.count)
}

@c @implementation
public func cam_result_box(_ r: OpaquePointer?, _ i: Int32, _ out: UnsafeMutablePointer<cam_box>?) -> cam_status {
    guard let r, let out else { return CAM_ERR_ARGUMENT }
    let boxes = object(r, as: ResultBox.self).boxes
    guard i >= 0, Int(i) < boxes.count else { return CAM_ERR_ARGUMENT }
    out.pointee = boxes[Int(i)]
    return CAM_OK
}

@c @implementation
public func cam_result_map(_ r: OpaquePointer?, _ i: Int32, _ width: UnsafeMutablePointer<Int32>?,
                           _ height: UnsafeMutablePointer<Int32>?) -> UnsafePointer<Float>? {
    width?.pointee = 0
    height?.pointee = 0
    guard let r else { return nil }
    let result = object(r, as: ResultBox.self)
    guard i >= 0, Int(i) < result.maps.count else { return nil }
    width?.pointee = result.width
    height?.pointee = result.height
    return UnsafePointer(result.maps[Int(i)].baseAddress)
}

@c @implementation
public func cam_result_free(_ r: OpaquePointer?) {
    guard let r else { return }
    release(r, as: ResultBox.self)
}
