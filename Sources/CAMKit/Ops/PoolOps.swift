import CCAMKernels

/// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean.
enum PoolOps {
    static func windowed(_ c: OpContext, _ a: PoolAttributes, max isMax: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0, rank: 4)
        let pads = try ConvOps.resolvePads(c, a.autoPad, a.pads, input: [x[2], x[3]], kernel: a.kernelShape,
                                           strides: a.strides, dilations: a.dilations)
        let i = { (v: Int) throws(CAMError) -> Int32 in try ConvOps.int32(c, v) }
        var p = ck_pool2d(n: try i(x[0]), c: try i(x[1]), h_in: try i(x[2]), w_in: try i(x[3]),
                          k_h: try i(a.kernelShape[0]), k_w: try i(a.kernelShape[1]),
                          stride_h: try i(a.strides[0]), stride_w: try i(a.strides[1]),
                          dil_h: try i(a.dilations[0]), dil_w: try i(a.dilations[1]),
                          pad_top: try i(pads[0]), pad_left: try i(pads[1]), pad_bottom: try i(pads[2]), pad_right: try i(pads[3]),
                          ceil_mode: a.ceilMode ? 1 : 0, count_include_pad: a.countIncludePad ? 1 : 0)
        var hOut: Int32 = 0, wOut: Int32 = 0
        guard ck_pool2d_output_size(&p, &hOut, &wOut) == CK_OK else {
            throw c.fail("a \(a.kernelShape) window (stride \(a.strides), dilation \(a.dilations)) does not fit the \(x[2])x\(x[3]) input padded by \(pads)")
        }
        let out = [x[0], x[1], Int(hOut), Int(wOut)]
        let geometry = p
        let label = c.where
        var op = PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let input = try floatOperand(inputs, 0)
            var y = [Float](repeating: 0, count: out.reduce(1, *))
            var p = geometry
            try kernel(label) {
                y.withUnsafeMutableBufferPointer { yb in
                    isMax ? ck_maxpool2d_forward(&p, input.scalars, yb.baseAddress, nil)
                          : ck_avgpool2d_forward(&p, input.scalars, yb.baseAddress)
                }
            }
            return [.float(Tensor(uncheckedShape: out, scalars: y))]
        }
        op.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return [nil] }
            let input = try floatOperand(inputs, 0)
            let dy = gradient(grads, 0, shape: out)
            var dx = [Float](repeating: 0, count: x.reduce(1, *))
            var p = geometry
            if isMax {
                // The forward pass keeps no argmax; finding it again costs one pooling pass.
                var y = [Float](repeating: 0, count: out.reduce(1, *))
                var argmax = [Int32](repeating: 0, count: y.count)
                try kernel(label) { ck_maxpool2d_forward(&p, input.scalars, &y, &argmax) }
                try kernel(label) { ck_maxpool2d_backward(&p, argmax, dy.scalars, &dx) }
            } else {
                try kernel(label) { ck_avgpool2d_backward(&p, dy.scalars, &dx) }
            }
            return [Tensor(uncheckedShape: x, scalars: dx)]
        }
        return op
    }

    static func global(_ c: OpContext, max isMax: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        guard x.count >= 3 else { throw c.fail("input has shape \(x), expected [N, C, spatial...]") }
        let out = [x[0], x[1]] + Array(repeating: 1, count: x.count - 2)
        return try globalPlan(c, x: x, out: out, max: isMax)
    }

    /// Global pooling over [N, C, spatial] as `planes` planes of `hw` values.
    static func globalPlan(_ c: OpContext, x: [Int], out: [Int], max isMax: Bool) throws(CAMError) -> PlannedOp {
        let planes = try ConvOps.int32(c, x[0] * x[1]), hw = try ConvOps.int32(c, x[2...].reduce(1, *))
        let label = c.where
        var op = PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let input = try floatOperand(inputs, 0)
            var y = [Float](repeating: 0, count: Int(planes))
            try kernel(label) {
                y.withUnsafeMutableBufferPointer { yb in
                    isMax ? ck_global_maxpool_forward(input.scalars, yb.baseAddress, nil, planes, hw)
                          : ck_global_avgpool_forward(input.scalars, yb.baseAddress, planes, hw)
                }
            }
            return [.float(Tensor(uncheckedShape: out, scalars: y))]
        }
        op.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            let dy = gradient(grads, 0, shape: out)
            var dx = [Float](repeating: 0, count: x.reduce(1, *))
            if isMax {
                let input = try floatOperand(inputs, 0)
                var y = [Float](repeating: 0, count: Int(planes))
                var argmax = [Int32](repeating: 0, count: Int(planes))
                try kernel(label) { ck_global_maxpool_forward(input.scalars, &y, &argmax, planes, hw) }
                try kernel(label) { ck_global_maxpool_backward(argmax, dy.scalars, &dx, planes, hw) }
            } else {
                try kernel(label) { ck_global_avgpool_backward(dy.scalars, &dx, planes, hw) }
            }
            return [Tensor(uncheckedShape: x, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
    }

    /// ReduceMean. Over the trailing spatial axes of [N, C, ...] it is global
    /// average pooling; any other axes take the general strided loop.
    static func reduceMean(_ c: OpContext, axes attribute: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        var axes = attribute ?? []
        if attribute == nil, c.optional(1) != nil { axes = try c.constantInts(1, what: "axes") }
        if axes.isEmpty {
            if noopWithEmptyAxes {
                var op = PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in [inputs[0]!] }
                op.backward = ShapeOps.reshapeBack(inputShape: x)
                return op
            }
            axes = Array(0..<x.count)
        }
        var normalized: [Int] = []
        for a in axes { normalized.append(try c.axis(a, rank: x.count)) }
        let reduced = Set(normalized)
        guard reduced.count == normalized.count else { throw c.fail("axes \(axes) repeat an axis") }
        let kept = x.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
        let out = keepDims ? kept : x.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)

        if x.count >= 3, reduced == Set(2..<x.count) {
            return try globalPlan(c, x: x, out: out, max: false)
        }
        let count = Float(normalized.reduce(1) { $0 * x[$1] })
        let plan = Broadcast(a: x, b: kept, out: x)
        var op = PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let input = try floatOperand(inputs, 0)
            // Sum each input element into its reduced slot (b's index in the broadcast).
            var sums = [Double](repeating: 0, count: kept.reduce(1, *))
            plan.forEach { o, _, j in sums[j] += Double(input.scalars[o]) }
            return [.float(Tensor(uncheckedShape: out, scalars: sums.map { Float($0 / Double(count)) }))]
        }
        op.backward = { _, _, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            let dy = gradient(grads, 0, shape: out)
            var dx = [Float](repeating: 0, count: x.reduce(1, *))
            plan.forEach { o, _, j in dx[o] = dy.scalars[j] / count }
            return [Tensor(uncheckedShape: x, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
    }
}
