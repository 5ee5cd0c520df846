// This module is compiled with -march=x86-64-v3 (AVX2, FMA, F16C).
public let kernelISA = "x86-64-v3"
