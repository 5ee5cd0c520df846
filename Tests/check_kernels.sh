#!/bin/sh
# Checks the machine code of the per-ISA kernel modules (a kernel built without its CPU flags
# still passes every test, only ~100x slower; one built with the wrong flags crashes old CPUs):
#   - x86-64-v4 uses 512-bit FMAs, x86-64-v3 256-bit FMAs and nothing 512-bit;
#   - baseline uses no AVX register and calls no fmaf;
#   - no module exports a weak copy of generic stdlib code, which the linker could merge with
#     another module's copy compiled for a newer CPU.
set -eu
build=${1:-.build/release}
fail=0
check() { # description, condition
    if [ "$2" = 0 ]; then echo "kernels: FAIL $1"; fail=1; else echo "kernels: ok   $1"; fi
}
# The objects of a module's current sources (a build directory may keep those of removed files).
objects() { for f in Sources/"$1"/*.swift; do echo "$build/$1.build/$(basename "$f").o"; done; }
count() { objdump -d --no-show-raw-insn $(objects "$1") | grep -cE "$2" || true; }
v4_fma=$(count VGGKernelsV4 'vfmadd[0-9a-z]*ps.*zmm')
v3_fma=$(count VGGKernelsV3 'vfmadd[0-9a-z]*ps.*ymm')
v3_zmm=$(count VGGKernelsV3 'zmm')
base_avx=$(count VGGKernelsBase 'ymm|zmm|vfmadd')
base_fmaf=$(objdump -dr $(objects VGGKernelsBase) | grep -c 'fmaf' || true)
check "x86-64-v4 kernels use 512-bit FMA ($v4_fma)" "$v4_fma"
check "x86-64-v3 kernels use 256-bit FMA ($v3_fma)" "$v3_fma"
check "x86-64-v3 kernels use no 512-bit registers ($v3_zmm)" "$([ "$v3_zmm" = 0 ] && echo 1 || echo 0)"
check "baseline kernels use no AVX/FMA ($base_avx) and no fmaf calls ($base_fmaf)" "$([ "$base_avx" = 0 ] && [ "$base_fmaf" = 0 ] && echo 1 || echo 0)"
for m in VGGKernelsBase VGGKernelsV3 VGGKernelsV4; do
    foreign=$(nm $(objects "$m") | awk '$2 ~ /^[Ww]$/ {print $3}' | grep -v "^\$s[0-9]*$m" | wc -l)
    check "$m has no weak symbols outside its own namespace ($foreign)" "$([ "$foreign" = 0 ] && echo 1 || echo 0)"
done
if [ $fail = 0 ]; then echo "7 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
