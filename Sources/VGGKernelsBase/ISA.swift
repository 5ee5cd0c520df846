// This module is compiled for baseline x86-64 (SSE2): the fallback on CPUs without FMA.
public let kernelISA = "x86-64"
