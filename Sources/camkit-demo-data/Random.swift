import Foundation

// A small seeded PRNG (SplitMix64): the generator never uses system randomness,
// so one seed gives the same images, weights and model on every run.

struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A generator for one item of one stream (training step, image index...):
    /// every image has its own independent sequence, so images can be made in
    /// any order, or in parallel, with the same result.
    init(seed: UInt64, stream: UInt64, index: UInt64) {
        var s = SplitMix64(seed: seed ^ 0x5EED_CA3C_1D00_0000)
        _ = s.next()
        var t = SplitMix64(seed: s.next() &+ stream &* 0x9E37_79B9_7F4A_7C15)
        _ = t.next()
        state = t.next() ^ (index &* 0xD1B5_4A32_D192_ED03)
        _ = next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 24 bits.
    mutating func unit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unit() }

    /// Uniform integer in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int {
        precondition(hi >= lo)
        return lo + Int(next() % UInt64(hi - lo + 1))
    }

    mutating func bool(_ p: Float = 0.5) -> Bool { unit() < p }

    /// Standard normal (Box-Muller, one value per call).
    mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
