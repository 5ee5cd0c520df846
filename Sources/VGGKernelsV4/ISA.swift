// This module is compiled with -march=x86-64-v4 (AVX-512).
public let kernelISA = "x86-64-v4"
