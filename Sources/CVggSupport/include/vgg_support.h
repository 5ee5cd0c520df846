/* Small C helpers for the engine: CPU feature detection (Swift cannot call
 * __builtin_cpu_supports). Internal: not part of the public API, not exported from libvgg.so. */
#ifndef VGG_SUPPORT_H
#define VGG_SUPPORT_H

/* 1 if the CPU (and OS) support the x86-64-v3 level (AVX2, FMA, F16C, BMI2), else 0. */
int vggsupport_cpu_is_x86_64_v3(void);
/* 1 if the CPU supports the x86-64-v4 level (AVX-512 F/BW/CD/DQ/VL on top of v3), else 0. */
int vggsupport_cpu_is_x86_64_v4(void);

#endif
