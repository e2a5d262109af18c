import Foundation
import Testing
@testable import CAMKit

@Suite struct NpyTests {
    /// The fixtures were written by NumPy: the header is parsed and the
    /// payload lands where NumPy put it (first values checked by hand-decoding).
    @Test func readsNumPyFiles() throws {
        let url = Fixtures.root.appendingPathComponent("inputs/astronaut_rgb8_64x64.npy")
        let t = try Npy.read(contentsOf: url)
        #expect(t.shape == [1, 3, 64, 64])
        let raw = try Data(contentsOf: url)
        let offset = raw.count - 3 * 64 * 64 * 4
        let first = raw[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        #expect(t.scalars[0] == first)
    }

    @Test func roundTripsVersion1AndReadsVersion2() throws {
        var rng = SplitMix(seed: 11)
        let t = try Tensor(shape: [2, 3, 5], scalars: (0..<30).map { _ in rng.nextFloat() })
        let v1 = Npy.encode(t)
        #expect(v1[6] == 1 && (Int(v1[8]) | Int(v1[9]) << 8 + 10) % 64 == 0)
        #expect(try Npy.decode(v1) == t)
        // The same file with a version 2.0 header (4-byte length).
        let headerLength = Int(v1[8]) | Int(v1[9]) << 8
        var v2 = Data(v1[0..<6]) + Data([2, 0]) + Data([UInt8(headerLength & 0xFF), UInt8(headerLength >> 8), 0, 0])
        v2 += v1[10...]
        #expect(try Npy.decode(v2) == t)
        let scalar = try Tensor(shape: [], scalars: [4.5])
        #expect(try Npy.decode(Npy.encode(scalar)) == scalar)
        let vector = try Tensor(shape: [3], scalars: [1, 2, 3])
        #expect(try Npy.decode(Npy.encode(vector)) == vector)
    }

    func header(_ dict: String, payload: Int) -> Data {
        var h = dict
        while (10 + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)])
            + Data(h.utf8) + Data(repeating: 0, count: payload)
    }

    @Test func refusesWhatItDoesNotRead() {
        func code(_ d: Data) -> CAMError.Code? {
            do { _ = try Npy.decode(d); return nil } catch { return error.code }
        }
        #expect(code(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", payload: 16)) == .unsupported)
        #expect(code(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", payload: 8)) == .unsupported)
        #expect(code(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", payload: 16)) == .unsupported)
        #expect(code(header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", payload: 8)) == .format)
        #expect(code(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", payload: 8)) == .format)
        #expect(code(header("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", payload: 8)) == .memory)
        #expect(code(Data("not numpy".utf8)) == .format)
        #expect(code(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", payload: 8).prefix(20)) == .format)
        var v9 = header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", payload: 8)
        v9[6] = 9
        #expect(code(v9) == .format)
    }
}
