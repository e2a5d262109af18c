#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#endif

/// ONNX `ModelProto` -> `Graph`: decodes with swift-protobuf (the generated
/// `onnx.pb.swift`), checks everything a later stage relies on, and does the
/// load-time simplifications: Constant nodes become constants, Identity and
/// Dropout disappear, nodes are sorted, BatchNorm folds into its Conv.
enum ONNXImport {
    static let supportedOpsets = 11...21

    static func load(contentsOf url: URL, limits: Limits = Limits()) throws(CAMError) -> Graph {
        // One descriptor for everything: the skeleton is read from its
        // mapping and the weights with pread (see ONNXWire), so both come
        // from the same file even if the path is replaced meanwhile.
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CAMError(.io, "cannot read model '\(url.path)': \(reason(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CAMError(.io, "cannot read model '\(url.path)': \(reason(errno))") }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw CAMError(.io, "cannot read model '\(url.path)': it is a directory, not an ONNX file")
        case S_IFREG: break
        default: throw CAMError(.io, "cannot read model '\(url.path)': it is not a regular file")
        }
        guard info.st_size > 0 else { throw CAMError(.format, "model '\(url.path)' is empty") }
        try checkModelBytes(Int(info.st_size), name: url.path, limits: limits)
        let size = Int(info.st_size)
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CAMError(.io, "cannot read model '\(url.path)': \(reason(errno))")
        }
        let data = Data(bytesNoCopy: base, count: size, deallocator: .custom { p, n in munmap(p, n) })
        return try load(data: data, weights: .file(fd), name: url.path, directory: url.deletingLastPathComponent(), limits: limits)
    }

    /// errno in the words the other file errors use.
    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case EACCES: return "permission denied"
        default: return String(cString: strerror(code))
        }
    }

    /// `directory` is where external data files are looked up (nil: refuse them).
    static func load(data: Data, name: String, directory: URL?, limits: Limits = Limits()) throws(CAMError) -> Graph {
        try load(data: data, weights: .memory, name: name, directory: directory, limits: limits)
    }

    private static func load(data: Data, weights: WeightSource, name: String, directory: URL?, limits: Limits) throws(CAMError) -> Graph {
        guard !data.isEmpty else { throw CAMError(.format, "model '\(name)' is empty") }
        try checkModelBytes(data.count, name: name, limits: limits)
        let hollowed = data.withUnsafeBytes { ONNXWire.hollow($0) }
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = limits.protobufDepth
            if let hollowed {
                model = try Onnx_ModelProto(serializedBytes: hollowed.skeleton, options: options)
            } else {
                model = try Onnx_ModelProto(serializedBytes: data, options: options)
            }
        } catch BinaryDecodingError.messageDepthLimit {
            throw CAMError(.memory, "model '\(name)': protobuf messages nest deeper than the limit of \(limits.protobufDepth) (Limits.protobufDepth)")
        } catch {
            throw CAMError(.format, "model '\(name)' is not a valid ONNX file (protobuf: \(describe(error)))")
        }
        // Counted before anything is built from them: each node becomes an
        // Op and a few dictionaries.
        guard model.graph.node.count <= limits.nodes else {
            throw CAMError(.memory, "model '\(name)': \(model.graph.node.count) nodes exceed the limit of \(limits.nodes) (Limits.nodes)")
        }
        // Protobuf is forgiving: arbitrary bytes can decode as a message full of
        // unknown fields. A real model has an IR version and a graph with nodes.
        guard model.irVersion > 0, model.hasGraph, !model.graph.node.isEmpty else {
            throw CAMError(.format, "model '\(name)' is not an ONNX model (no IR version or no graph nodes)")
        }
        let opsets = model.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let opset = opsets.first.map({ Int($0.version) }) else {
            throw CAMError(.format, "model '\(name)' imports no opset of the default ONNX domain")
        }
        guard supportedOpsets.contains(opset) else {
            throw CAMError(.unsupported, "model '\(name)' uses ONNX opset \(opset); camkit supports opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound)")
        }
        var builder = Builder(modelName: name, opset: opset, directory: directory, limits: limits, bytesRead: data.count,
                              model: data, weights: weights, rawData: hollowed?.rawData ?? [:])
        return try builder.build(model.graph, producer: model.producerName)
    }

    /// Where the raw_data that ONNXWire lifted out of the skeleton is read from.
    enum WeightSource {
        /// The model's bytes in memory.
        case memory
        /// The model file, read with pread: its pages go to the page cache,
        /// not into this process's resident memory a second time.
        case file(Int32)
    }

    static func checkModelBytes(_ bytes: Int, name: String, limits: Limits) throws(CAMError) {
        guard bytes <= limits.modelBytes else {
            throw CAMError(.memory, "model '\(name)': \(bytes) bytes exceed the limit of \(limits.modelBytes) (Limits.modelBytes)")
        }
    }

    /// A short reason for a Foundation file error, without its userInfo noise.
    static func describe(_ error: any Error) -> String {
        guard let e = error as? CocoaError else { return "\(error)" }
        switch e.code {
        case .fileReadNoSuchFile, .fileNoSuchFile: return "no such file"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileReadTooLarge: return "file too large"
        case .fileWriteOutOfSpace: return "no space left"
        case .fileWriteFileExists: return "file exists"
        default:
            if let posix = e.userInfo["NSUnderlyingError"].map({ "\($0)" }) { return posix }
            return "file error \(e.code.rawValue)"
        }
    }
}

private struct Builder {
    let modelName: String
    let opset: Int
    let directory: URL?
    let limits: Limits
    /// The model file's bytes and those of every external data file mapped so far.
    var bytesRead: Int
    var ids: [String: Int] = [:]
    var names: [String] = []
    var constants: [Int: Value] = [:]
    var externalFiles: [String: Data] = [:]

    /// The model's bytes, the source of the lifted raw_data, and where each
    /// initializer's raw_data lies in them (by initializer index).
    let model: Data
    let weights: ONNXImport.WeightSource
    let rawData: [Int: Range<Int>]

    init(modelName: String, opset: Int, directory: URL?, limits: Limits, bytesRead: Int,
         model: Data, weights: ONNXImport.WeightSource, rawData: [Int: Range<Int>]) {
        self.modelName = modelName
        self.opset = opset
        self.directory = directory
        self.limits = limits
        self.bytesRead = bytesRead
        self.model = model
        self.weights = weights
        self.rawData = rawData
    }

    mutating func id(_ name: String) -> Int {
        if let id = ids[name] { return id }
        ids[name] = names.count
        names.append(name)
        return names.count - 1
    }

    mutating func build(_ g: Onnx_GraphProto, producer: String) throws(CAMError) -> Graph {
        for (index, t) in g.initializer.enumerated() {
            guard !t.name.isEmpty else { throw CAMError(.format, "model '\(modelName)': an initializer has no name") }
            constants[id(t.name)] = try tensorValue(t, what: "initializer '\(t.name)'", lifted: rawData[index])
        }

        var inputs: [Graph.Input] = []
        for vi in g.input where constants[id(vi.name)] == nil {
            guard case .tensorType(let tt)? = vi.type.value else {
                throw CAMError(.unsupported, "model '\(modelName)': graph input '\(vi.name)' is not a tensor")
            }
            guard tt.elemType == 1 else {
                throw CAMError(.unsupported, "model '\(modelName)': graph input '\(vi.name)' has element type \(tt.elemType); only float32 inputs are supported")
            }
            let shape: [Int?] = tt.shape.dim.map { d in
                if case .dimValue(let v)? = d.value, v > 0 { return Int(v) }
                return nil
            }
            inputs.append(Graph.Input(id: id(vi.name), name: vi.name, shape: shape))
        }
        guard !inputs.isEmpty else { throw CAMError(.format, "model '\(modelName)' has no graph input besides its initializers") }

        // Identity and Dropout become aliases: their output reads as their input.
        var alias: [String: String] = [:]
        func resolve(_ name: String) -> String {
            var n = name
            while let a = alias[n] { n = a }
            return n
        }

        var nodes: [Graph.Node] = []
        for (index, n) in g.node.enumerated() {
            let nodeName = n.name.isEmpty ? "#\(index) \(n.opType)" : n.name
            guard n.domain == "" || n.domain == "ai.onnx" else {
                throw CAMError(.unsupported, "node '\(nodeName)' (\(n.opType)) is in domain '\(n.domain)'; only the default ONNX domain is supported")
            }
            var attributes: [String: Onnx_AttributeProto] = [:]
            for a in n.attribute { attributes[a.name] = a }
            let parsed = NodeAttributes(opType: n.opType, nodeName: nodeName, opset: opset, outputCount: n.output.count, attributes: attributes)

            switch n.opType {
            case "Constant":
                guard n.output.count == 1 else { throw parsed.format("Constant needs exactly one output") }
                constants[id(n.output[0])] = try constantValue(parsed)
                continue
            case "Identity", "Dropout":
                guard let input = n.input.first, !input.isEmpty, let output = n.output.first else {
                    throw parsed.format("\(n.opType) needs one input and one output")
                }
                if n.opType == "Dropout", n.output.count > 1, !n.output[1].isEmpty {
                    // The mask is only consumed in training graphs.
                    let mask = n.output[1]
                    if g.node.contains(where: { $0.input.contains(mask) }) || g.output.contains(where: { $0.name == mask }) {
                        throw parsed.unsupported("the mask output of Dropout is not supported")
                    }
                }
                alias[output] = input
                continue
            default:
                break
            }
            let op = try Op(parsing: parsed, opset: opset)
            let nodeInputs: [Int?] = n.input.map { $0.isEmpty ? nil : id(resolve($0)) }
            let nodeOutputs = n.output.map { id($0) }
            nodes.append(Graph.Node(name: nodeName, opType: n.opType, op: op, inputs: nodeInputs, outputs: nodeOutputs))
        }
        // Node inputs were resolved as they came; an alias defined after its
        // first use (out-of-order graphs) is resolved here.
        for i in nodes.indices {
            nodes[i].inputs = nodes[i].inputs.map { $0.map { id(resolve(names[$0])) } }
        }

        guard !g.output.isEmpty else { throw CAMError(.format, "model '\(modelName)' has no graph output") }
        let outputs = g.output.map { id(resolve($0.name)) }

        var graph = Graph(valueNames: names, nodes: nodes, constants: constants, inputs: inputs,
                          outputs: outputs, opset: opset, producerName: producer)
        try sortTopologically(&graph)
        try GraphFolding.foldBatchNorms(&graph)
        return graph
    }

    /// Kahn's algorithm, stable in the file's order. Also checks that every
    /// value has exactly one source and that every input has one.
    func sortTopologically(_ graph: inout Graph) throws(CAMError) {
        var producer = [Int?](repeating: nil, count: graph.valueNames.count)
        for input in graph.inputs { producer[input.id] = -1 }
        for id in graph.constants.keys { producer[id] = -1 }
        for (index, node) in graph.nodes.enumerated() {
            for out in node.outputs {
                if producer[out] != nil {
                    throw CAMError(.format, "model '\(modelName)': value '\(graph.valueNames[out])' is produced twice (again by node '\(node.name)')")
                }
                producer[out] = index
            }
        }
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var readers = [[Int]](repeating: [], count: graph.valueNames.count)
        for (index, node) in graph.nodes.enumerated() {
            for case let input? in node.inputs {
                guard let source = producer[input] else {
                    throw CAMError(.format, "node '\(node.name)' (\(node.opType)) reads '\(graph.valueNames[input])', which no node, initializer or graph input provides (missing initializer?)")
                }
                if source >= 0 {
                    pending[index] += 1
                    readers[input].append(index)
                }
            }
        }
        for out in graph.outputs where producer[out] == nil {
            throw CAMError(.format, "model '\(modelName)': graph output '\(graph.valueNames[out])' is produced by no node")
        }
        var ready = graph.nodes.indices.filter { pending[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(graph.nodes.count)
        var cursor = 0
        while cursor < ready.count {
            let index = ready[cursor]
            cursor += 1
            order.append(index)
            for out in graph.nodes[index].outputs {
                for reader in readers[out] {
                    pending[reader] -= 1
                    if pending[reader] == 0 { ready.append(reader) }
                }
            }
        }
        guard order.count == graph.nodes.count else {
            let stuck = graph.nodes.indices.filter { pending[$0] > 0 }.prefix(3).map { "'\(graph.nodes[$0].name)'" }
            throw CAMError(.format, "model '\(modelName)': the graph has a cycle (through node \(stuck.joined(separator: ", ")))")
        }
        graph.nodes = order.map { graph.nodes[$0] }
    }

    mutating func constantValue(_ a: NodeAttributes) throws(CAMError) -> Value {
        let attrs = a.attributes
        if let t = attrs["value"] { return try tensorValue(t.t, what: "\(a.context) value") }
        if let f = attrs["value_float"] { return .float(try Tensor(shape: [], scalars: [f.f])) }
        if let f = attrs["value_floats"] { return .float(try Tensor(shape: [f.floats.count], scalars: f.floats)) }
        if let i = attrs["value_int"] { return .int(IntTensor(shape: [], scalars: [i.i])) }
        if let i = attrs["value_ints"] { return .int(IntTensor(i.ints)) }
        throw a.unsupported("Constant without a value, value_float(s) or value_int(s) attribute")
    }

    /// A TensorProto's data as a camkit value, with every length checked
    /// against its dims before anything is copied.
    /// `lifted` is the range of the raw_data ONNXWire took out of `t`.
    mutating func tensorValue(_ t: Onnx_TensorProto, what: String, lifted: Range<Int>? = nil) throws(CAMError) -> Value {
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d < Int64(Int32.max) else { throw CAMError(.format, "\(what): dimension \(d) is out of range") }
            shape.append(Int(d))
        }
        guard let count = Tensor.elementCount(shape), count <= limits.tensorElements else {
            throw CAMError(.memory, "model '\(modelName)': \(what): shape \(shape) has \(Plan.describeCount(shape)) elements, over the limit of \(limits.tensorElements) (Limits.tensorElements)")
        }
        // Lifted float weights, nearly all of a model's bytes, are copied once:
        // from the file straight into the tensor.
        if let lifted, t.dataLocation != .external, t.dataType == 1 {
            guard lifted.count == count * 4 else {
                throw CAMError(.format, "\(what): raw_data has \(lifted.count) bytes, shape \(shape) needs \(count * 4)")
            }
            let scalars = try [Float](unsafeUninitializedCapacity: count) { (buffer, initialized) throws(CAMError) in
                try read(lifted, into: UnsafeMutableRawBufferPointer(buffer), what: what)
                initialized = count
            }
            return .float(try Tensor(shape: shape, scalars: scalars))
        }
        let raw: Data?
        if t.dataLocation == .external {
            raw = try externalData(t, what: what)
        } else if let lifted {
            raw = model.subdata(in: model.startIndex + lifted.lowerBound ..< model.startIndex + lifted.upperBound)
        } else {
            raw = t.hasRawData ? t.rawData : nil
        }
        func checkCount(_ n: Int, _ field: String) throws(CAMError) {
            guard n == count else { throw CAMError(.format, "\(what): \(field) holds \(n) values, shape \(shape) needs \(count)") }
        }
        switch t.dataType {
        case 1: // FLOAT
            if let raw {
                try checkCount(raw.count / 4, "raw_data")
                guard raw.count == count * 4 else { throw CAMError(.format, "\(what): raw_data has \(raw.count) bytes, not a multiple of 4") }
                return .float(try Tensor(shape: shape, scalars: Builder.littleEndian(raw, count: count, as: Float.self)))
            }
            try checkCount(t.floatData.count, "float_data")
            return .float(try Tensor(shape: shape, scalars: t.floatData))
        case 11: // DOUBLE
            let values: [Double]
            if let raw {
                guard raw.count == count * 8 else { throw CAMError(.format, "\(what): raw_data has \(raw.count) bytes, shape \(shape) needs \(count * 8)") }
                values = Builder.littleEndian(raw, count: count, as: Double.self)
            } else {
                try checkCount(t.doubleData.count, "double_data")
                values = t.doubleData
            }
            return .float(try Tensor(shape: shape, scalars: values.map { Float($0) }))
        case 7: // INT64
            if let raw {
                guard raw.count == count * 8 else { throw CAMError(.format, "\(what): raw_data has \(raw.count) bytes, shape \(shape) needs \(count * 8)") }
                return .int(IntTensor(shape: shape, scalars: Builder.littleEndian(raw, count: count, as: Int64.self)))
            }
            try checkCount(t.int64Data.count, "int64_data")
            return .int(IntTensor(shape: shape, scalars: t.int64Data))
        case 6, 2, 3, 4, 5, 9: // INT32, UINT8, INT8, UINT16, INT16, BOOL
            let width = [6: 4, 2: 1, 3: 1, 4: 2, 5: 2, 9: 1][Int(t.dataType)]!
            if let raw {
                guard raw.count == count * width else { throw CAMError(.format, "\(what): raw_data has \(raw.count) bytes, shape \(shape) needs \(count * width)") }
                let values: [Int64]
                switch t.dataType {
                case 6: values = Builder.littleEndian(raw, count: count, as: Int32.self).map { Int64($0) }
                case 3: values = Builder.littleEndian(raw, count: count, as: Int8.self).map { Int64($0) }
                case 4: values = Builder.littleEndian(raw, count: count, as: UInt16.self).map { Int64($0) }
                case 5: values = Builder.littleEndian(raw, count: count, as: Int16.self).map { Int64($0) }
                default: values = Builder.littleEndian(raw, count: count, as: UInt8.self).map { Int64($0) }
                }
                return .int(IntTensor(shape: shape, scalars: values))
            }
            try checkCount(t.int32Data.count, "int32_data")
            return .int(IntTensor(shape: shape, scalars: t.int32Data.map { Int64($0) }))
        default:
            throw CAMError(.unsupported, "\(what): data type \(t.dataType) is not supported (float, double and integer types are)")
        }
    }

    /// Fills `buffer` with the model's bytes in `range`.
    func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer, what: String) throws(CAMError) {
        switch weights {
        case .memory:
            model.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[range])) }
        case .file(let fd):
            var done = 0
            while done < range.count {
                let n = pread(fd, buffer.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    let reason = n < 0 ? String(cString: strerror(errno)) : "the file ended early (changed while loading?)"
                    throw CAMError(.io, "model '\(modelName)': \(what): cannot read its \(range.count) bytes at offset \(range.lowerBound): \(reason)")
                }
                done += n
            }
        }
    }

    /// Copies `count` little-endian values out of `data`, which need not be aligned.
    static func littleEndian<T: FixedWidthInteger>(_ data: Data, count: Int, as: T.Type) -> [T] {
        var out = [T](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dst in data.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(dst.count))) } }
        return out.map { T(littleEndian: $0) }
    }

    static func littleEndian<T: BinaryFloatingPoint>(_ data: Data, count: Int, as: T.Type) -> [T] {
        // Every platform camkit builds on is little-endian, as ONNX stores floats.
        var out = [T](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dst in data.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(dst.count))) } }
        return out
    }

    /// The bytes of an externally stored tensor, from a file beside the model.
    mutating func externalData(_ t: Onnx_TensorProto, what: String) throws(CAMError) -> Data {
        var entries: [String: String] = [:]
        for e in t.externalData { entries[e.key] = e.value }
        guard let location = entries["location"], !location.isEmpty else {
            throw CAMError(.format, "\(what): external data without a location")
        }
        guard let directory else {
            throw CAMError(.unsupported, "\(what): external data '\(location)' cannot be read for a model loaded from memory")
        }
        // The location is relative to the model; refuse anything that leaves its folder.
        let parts = location.split(separator: "/")
        guard !location.hasPrefix("/"), !parts.contains("..") else {
            throw CAMError(.format, "\(what): external data location '\(location)' must be a relative path inside the model's folder")
        }
        let file: Data
        if let cached = externalFiles[location] {
            file = cached
        } else {
            let url = directory.appendingPathComponent(location)
            // Sized before mapping; a file stat cannot see is left to the
            // read below to report.
            var info = stat()
            if stat(url.path, &info) == 0, info.st_size > limits.modelBytes - bytesRead {
                throw CAMError(.memory, "\(what): external data '\(location)' (\(info.st_size) bytes) brings model '\(modelName)' to \(bytesRead + Int(info.st_size)) bytes, over the limit of \(limits.modelBytes) (Limits.modelBytes)")
            }
            do {
                file = try Data(contentsOf: url, options: .alwaysMapped)
            } catch {
                throw CAMError(.io, "\(what): cannot read external data '\(url.path)': \(ONNXImport.describe(error))")
            }
            externalFiles[location] = file
            bytesRead += file.count
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].map { Int($0) ?? -1 } ?? (file.count - max(offset, 0))
        guard offset >= 0, length >= 0, offset <= file.count, length <= file.count - offset else {
            throw CAMError(.format, "\(what): external data range offset \(entries["offset"] ?? "0") length \(entries["length"] ?? "-") does not fit '\(location)' (\(file.count) bytes)")
        }
        return file.subdata(in: file.startIndex + offset ..< file.startIndex + offset + length)
    }
}
