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
        return PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
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
        return PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
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
    }

    /// ReduceMean. Over the trailing spatial axes of [N, C, ...] it is global
    /// average pooling; any other axes take the general strided loop.
    static func reduceMean(_ c: OpContext, axes attribute: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        var axes = attribute ?? []
        if attribute == nil, c.optional(1) != nil { axes = try c.constantInts(1, what: "axes") }
        if axes.isEmpty {
            if noopWithEmptyAxes {
                return PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in [inputs[0]!] }
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
        return PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let input = try floatOperand(inputs, 0)
            // Sum each input element into its reduced slot (b's index in the broadcast).
            var sums = [Double](repeating: 0, count: kept.reduce(1, *))
            plan.forEach { o, _, j in sums[j] += Double(input.scalars[o]) }
            return [.float(Tensor(uncheckedShape: out, scalars: sums.map { Float($0 / Double(count)) }))]
        }
    }
}
