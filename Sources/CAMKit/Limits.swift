/// Sizes camkit refuses before allocating, so that a corrupt or hostile
/// model fails with a clear error instead of exhausting memory.
public enum Limits {
    #if CAMKIT_FUZZING
    /// The fuzz build (fuzz/fuzz.mk defines CAMKIT_FUZZING) plans with 2^22,
    /// as the image fuzzers decode with a 4-megapixel limit: the checks are
    /// the same at any limit, and a tensor at the full one takes seconds to
    /// plan under AddressSanitizer, which libFuzzer would report as a hang.
    public static let maxTensorElements = 1 << 22
    #else
    /// Elements in any one tensor a plan computes: 2^28 floats = 1 GiB.
    /// The largest activation of the torchvision zoo at 224x224 and batch 64
    /// (VGG's first block, 64 x 64 x 224 x 224) is 2^27.6, under it.
    public static let maxTensorElements = 1 << 28
    #endif
}

extension Limits {
    /// Pixels (width x height) of an image camkit decodes: 100 megapixels.
    /// Checked from the file's header, before any pixel memory exists, so a
    /// decompression bomb is refused cheaply. Each call can lower or raise it.
    public static let maxImagePixels = 100_000_000
}
