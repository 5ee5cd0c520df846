// Baseline-ISA kernels (x86-64 SSE2): the fallback for CPUs without FMA.
public enum KernelsBase {
    public static let isa = "x86-64"
}
