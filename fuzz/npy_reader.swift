// npy_reader.swift: libFuzzer target for the .npy reader.
//
// The input is a whole .npy file, given to Npy.decode (what
// Npy.read(contentsOf:) does after reading the file, and what `camkit run`
// and `camkit localize --input-tensor` use): the magic, versions 1.0 to 3.0,
// the header dictionary (descr, fortran_order, shape), the size checks and
// the payload copy. A tensor that decodes must hold as many values as its
// shape says, and encoding it again must decode to the same tensor.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CAMKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNpyReader(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    let tensor: Tensor
    do { tensor = try Npy.decode(data, name: "fuzz.npy") } catch {
        if error.code == .internal { fatalError("internal error: \(error.message)") }
        return 0
    }
    precondition(tensor.shape.reduce(1, *) == tensor.count, "shape \(tensor.shape) with \(tensor.count) values")
    let again = try? Npy.decode(Npy.encode(tensor))
    precondition(again?.shape == tensor.shape && again.map { zip($0.scalars, tensor.scalars).allSatisfy { $0.bitPattern == $1.bitPattern } } == true,
                 "round trip of \(tensor.shape)")
    return 0
}
