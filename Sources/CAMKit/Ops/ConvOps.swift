import CCAMKernels

/// Conv: geometry resolved once per plan (auto_pad, groups, output size),
/// then one kernel call per run with bias and any fused activation.
enum ConvOps {
    static func conv(_ c: OpContext, _ a: ConvAttributes) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0, rank: 4)
        let w = try c.floatShape(1, rank: 4)
        let hasBias = c.optional(2) != nil
        if hasBias {
            let b = try c.floatShape(2)
            guard b == [w[0]] else { throw c.fail("bias has shape \(b), expected [\(w[0])]") }
        }
        guard a.group >= 1, x[1] == w[1] * a.group, w[0] % a.group == 0 else {
            throw c.fail("input has \(x[1]) channels and weight shape \(w) with group \(a.group): channels do not match")
        }
        if let k = a.kernelShape, k != [w[2], w[3]] {
            throw c.fail("kernel_shape \(k) differs from the weight's \([w[2], w[3]])")
        }
        let pads = try resolvePads(c, a.autoPad, a.pads, input: [x[2], x[3]], kernel: [w[2], w[3]],
                                   strides: a.strides, dilations: a.dilations)
        var p = ck_conv2d(n: try int32(c, x[0]), c_in: try int32(c, x[1]), h_in: try int32(c, x[2]), w_in: try int32(c, x[3]),
                          c_out: try int32(c, w[0]), k_h: try int32(c, w[2]), k_w: try int32(c, w[3]),
                          stride_h: try int32(c, a.strides[0]), stride_w: try int32(c, a.strides[1]),
                          dil_h: try int32(c, a.dilations[0]), dil_w: try int32(c, a.dilations[1]),
                          pad_top: try int32(c, pads[0]), pad_left: try int32(c, pads[1]),
                          pad_bottom: try int32(c, pads[2]), pad_right: try int32(c, pads[3]),
                          groups: try int32(c, a.group))
        var hOut: Int32 = 0, wOut: Int32 = 0
        guard ck_conv2d_output_size(&p, &hOut, &wOut) == CK_OK else {
            throw c.fail("a \(w[2])x\(w[3]) kernel (dilation \(a.dilations), stride \(a.strides)) does not fit the \(x[2])x\(x[3]) input padded by \(pads)")
        }
        let outShape = [x[0], w[0], Int(hOut), Int(wOut)]
        var scratch = ck_conv2d_scratch_floats(&p, CK_CONV_AUTO)
        // Winograd where it applies and pays, when the weights are known now:
        // U is made once, here, and the forward runs from it. Not for an
        // exposed output (see Winograd.swift): a backward pass may run
        // through it, and its ReLU masks follow the forward's rounding.
        // Backward keeps the original weights (ck_conv2d_backward_input).
        var winogradU: [Float]? = nil, winogradPacked = false, tile: Int32 = 0
        if Winograd.enabled, c.transformWeights, !c.outputExposed, ck_winograd_applies(&p) != 0, let m = Winograd.tile(p, hOut: hOut, wOut: wOut),
           let id = c.node.inputs[1], case .float(let weights)? = c.operands[1]?.constant {
            winogradPacked = Winograd.packs(p, hOut: hOut, wOut: wOut)
            winogradU = Winograd.weights(p, tile: m, packed: winogradPacked, id: id, weights.scalars, cache: c.weightCache)
            tile = m
            if winogradU != nil { scratch = max(scratch, ck_winograd_scratch_floats(&p, m)) }
        }
        // Else weights packed once for the GEMM (PackedWeights.swift), where
        // that beats OpenBLAS, which packs them again on every call; but a
        // first layer of a few channels runs direct (conv_direct.c), with no
        // column matrix at all.
        var packedW: [Float]? = nil
        if winogradU == nil, c.transformWeights, ck_conv2d_direct_applies(&p) == 0, PackedWeights.enabled, ck_conv2d_packed_applies(&p) != 0,
           PackedWeights.pays(p, hOut: hOut, wOut: wOut),
           let id = c.node.inputs[1], case .float(let weights)? = c.operands[1]?.constant,
           let packed = PackedWeights.weights(p, id: id, weights.scalars, cache: c.weightCache) {
            packedW = packed
            scratch = max(scratch, ck_conv2d_packed_scratch_floats(&p))
        }
        let transformed = winogradU, transformedPacked = winogradPacked, packed = packedW, m = tile
        let geometry = p
        // A residual of another shape (a broadcast Add) stays a separate step,
        // and so does any activation after it.
        let residual = c.residualShape == outShape
        let activation = c.residualShape == nil || residual ? c.fusedActivation : nil
        let label = c.where
        var op = PlannedOp(outputs: [(outShape, .float)], scratch: scratch) { inputs, scratch throws(CAMError) in
            let x = try floatOperand(inputs, 0), w = try floatOperand(inputs, 1)
            let bias = hasBias ? try floatOperand(inputs, 2).scalars : nil
            let add = residual ? try floatOperand(inputs, 3).scalars : nil
            var y = [Float](unsafeUninitializedCapacity: outShape.reduce(1, *)) { $1 = $0.count }
            var p = geometry
            try kernel(label) {
                withOptionalPointer(bias) { b in
                    withOptionalPointer(add) { r in
                        withOptionalPointer(activation) { act in
                            y.withUnsafeMutableBufferPointer { yb in
                                if let u = transformed, transformedPacked {
                                    return ck_winograd_forward_packed(&p, m, u, x.scalars, b, r, act, yb.baseAddress,
                                                                      scratch.baseAddress, scratch.count)
                                }
                                if let u = transformed {
                                    return ck_winograd_forward_add(&p, m, u, x.scalars, b, r, act, yb.baseAddress,
                                                                   scratch.baseAddress, scratch.count)
                                }
                                if let packed {
                                    return ck_conv2d_forward_packed(&p, packed, x.scalars, b, r, act, yb.baseAddress,
                                                                    scratch.baseAddress, scratch.count)
                                }
                                return ck_conv2d_forward_add(&p, CK_CONV_AUTO, x.scalars, w.scalars, b, r, act, yb.baseAddress,
                                                             scratch.baseAddress, scratch.count)
                            }
                        }
                    }
                }
            }
            return [.float(Tensor(uncheckedShape: outShape, scalars: y))]
        }
        op.fusedResidual = residual
        // Input gradient only: dx = col2im(W^T dy). A fused activation would
        // need its pre-activation values, so backward plans never fuse.
        if activation == nil, !residual {
            op.backward = { inputs, outputs, grads, wanted, scratch throws(CAMError) in
                if wanted.dropFirst().contains(true) {
                    throw CAMError(.unsupported, "\(label): gradients with respect to convolution weights are not supported")
                }
                guard wanted[0] else { return wanted.map { _ in nil } }
                let w = try floatOperand(inputs, 1)
                let dy = gradient(grads, 0, shape: outShape)
                var dx = [Float](repeating: 0, count: x.reduce(1, *))
                var p = geometry
                try kernel(label) {
                    dx.withUnsafeMutableBufferPointer { db in
                        ck_conv2d_backward_input(&p, w.scalars, dy.scalars, db.baseAddress, scratch.baseAddress, scratch.count)
                    }
                }
                return [Tensor(uncheckedShape: x, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
            }
        }
        return op
    }

    /// Explicit pads, or the ones auto_pad asks for: SAME_* pads so that
    /// out = ceil(in / stride), the odd pixel at the end (UPPER) or the start (LOWER).
    static func resolvePads(_ c: OpContext, _ mode: AutoPad, _ pads: [Int], input: [Int], kernel: [Int],
                            strides: [Int], dilations: [Int]) throws(CAMError) -> [Int] {
        switch mode {
        case .notSet: return pads
        case .valid: return [0, 0, 0, 0]
        case .sameUpper, .sameLower:
            var begin = [0, 0], end = [0, 0]
            for axis in 0..<2 {
                let out = (input[axis] + strides[axis] - 1) / strides[axis]
                let span = dilations[axis] * (kernel[axis] - 1) + 1
                let total = max(0, (out - 1) * strides[axis] + span - input[axis])
                begin[axis] = mode == .sameUpper ? total / 2 : total - total / 2
                end[axis] = total - begin[axis]
            }
            return [begin[0], begin[1], end[0], end[1]]
        }
    }

    static func int32(_ c: OpContext, _ v: Int) throws(CAMError) -> Int32 {
        guard let r = Int32(exactly: v) else { throw c.fail(.memory, "size \(v) is out of range") }
        return r
    }
}

/// Calls `body` with a pointer to the array's elements, or NULL for nil.
@inline(__always)
func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

@inline(__always)
func withOptionalPointer<T, R>(_ value: T?, _ body: (UnsafePointer<T>?) -> R) -> R {
    guard let value else { return body(nil) }
    return withUnsafePointer(to: value) { body($0) }
}
