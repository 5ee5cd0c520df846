// x86-64-v3 kernels (AVX2 + FMA).
public enum KernelsV3 {
    public static let isa = "x86-64-v3"
}
