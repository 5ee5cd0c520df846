// x86-64-v4 kernels (AVX-512).
public enum KernelsV4 {
    public static let isa = "x86-64-v4"
}
