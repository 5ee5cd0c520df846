/* Small C helpers for the engine: CPU feature detection (Swift cannot call
 * __builtin_cpu_supports). Internal: not part of the public API, not exported from libvgg.so. */
#ifndef VGG_SUPPORT_H
#define VGG_SUPPORT_H

/* 1 if the CPU (and OS) support the x86-64-v3 level (AVX2, FMA, F16C, BMI2), else 0. */
int vggsupport_cpu_is_x86_64_v3(void);
/* 1 if the CPU supports the x86-64-v4 level (AVX-512 F/BW/CD/DQ/VL on top of v3), else 0. */
int vggsupport_cpu_is_x86_64_v4(void);

/* Asks for the cache line holding p ahead of its use (never faults, any address). Swift has no
 * prefetch; the Winograd weight transform stalls on DRAM without it (weights are read once per
 * run, in short bursts between stores). Inline: compiled into each kernel module with its flags. */
static inline void vggsupport_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
