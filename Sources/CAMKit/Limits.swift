/// Sizes camkit refuses before allocating, so that a corrupt or hostile
/// model fails with a clear error instead of exhausting memory.
public enum Limits {
    /// Elements in any one tensor a plan computes: 2^28 floats = 1 GiB.
    /// The largest activation of the torchvision zoo at 224x224 and batch 64
    /// (VGG's first block, 64 x 64 x 224 x 224) is 2^27.6, under it.
    public static let maxTensorElements = 1 << 28
}

extension Limits {
    /// Pixels (width x height) of an image camkit decodes: 100 megapixels.
    /// Checked from the file's header, before any pixel memory exists, so a
    /// decompression bomb is refused cheaply. Each call can lower or raise it.
    public static let maxImagePixels = 100_000_000
}
