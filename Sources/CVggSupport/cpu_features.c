/* CPU feature detection for the kernel dispatch table (x86-64 psABI micro-architecture levels). */
#include "vgg_support.h"

int vggsupport_cpu_is_x86_64_v3(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") ? 1 : 0;
#else
    return 0;
#endif
}

int vggsupport_cpu_is_x86_64_v4(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return vggsupport_cpu_is_x86_64_v3() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") ? 1 : 0;
#else
    return 0;
#endif
}
