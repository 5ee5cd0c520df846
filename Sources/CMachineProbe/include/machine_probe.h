/* What this machine can do, measured, for `vgg bench --layers` limits: the multiply-add rate of
 * each kind of arithmetic the engine uses and the memory read bandwidth, with `threads` threads
 * at once (so that cores sharing a port or a memory controller are counted as they run). For
 * the vgg tool only: not part of libvgg.so. Every function returns 0 where the kind cannot run
 * here (CPU, OS, or a thread that could not start). */
#ifndef MACHINE_PROBE_H
#define MACHINE_PROBE_H

#include <stddef.h>

/* f32 FMAs in registers, GFLOP/s per thread (2 per multiply-add): 512-bit with vectorBits 512
 * (AVX-512F), 256-bit FMA3 with 256, else SSE2 multiplies and adds (counted 2 FLOP per pair). */
double machineprobe_fma_gflops(int threads, int vectorBits);

/* bf16 dot products (vdpbf16ps, AVX512-BF16) in registers, GFLOP/s per thread (2 per
 * multiply-add, 32 per instruction). */
double machineprobe_bf16_dot_gflops(int threads);

/* AMX tile multiply-adds (tdpbf16ps on 16×16×32 tiles already loaded), GFLOP/s per thread;
 * 0 unless vggamx_available(). Each thread releases its tiles before it ends. */
double machineprobe_amx_gflops(int threads);

/* Reads of `bytes` of memory (each thread its own share, written first), GB/s of all threads
 * together, best of three passes. */
double machineprobe_read_gbps(int threads, size_t bytes);

#endif
