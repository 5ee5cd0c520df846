#!/bin/sh
# Builds the libFuzzer targets of Tests/Fuzz with coverage and AddressSanitizer: each Swift
# module of the engine (and the converter) is compiled again with -sanitize=fuzzer,address,
# in dependency order, then linked with the target. Output: build/fuzz/fuzz-{vgg,caffe,hdf5,torch,safetensors,onnx}.
set -eu
cd "$(dirname "$0")/.."
B=build/fuzz
rm -rf "$B" && mkdir -p "$B/modules" "$B/obj"
SAN="-sanitize=fuzzer,address -parse-as-library -O -g -I $B/modules"
CSAN="-fsanitize=fuzzer-no-link,address -g -O1"
module() { # name, extra flags, sources...
    name=$1; extra=$2; shift 2
    swiftc $SAN $extra -module-name "$name" -emit-module -emit-module-path "$B/modules/$name.swiftmodule" \
        -c "$@" -wmo -o "$B/obj/$name.o"
}
# C targets: CPU detection, the bf16 dot-product and AMX tier, the generated protobuf-c code; module maps for Swift.
clang $CSAN -c Sources/CVggSupport/cpu_features.c -I Sources/CVggSupport/include -o "$B/obj/cpu_features.o"
clang $CSAN -c Sources/CVggBF16/bf16_kernels.c -I Sources/CVggBF16/include -o "$B/obj/bf16_kernels.o"
clang $CSAN -c Sources/CVggBF16/amx_kernels.c -I Sources/CVggBF16/include -o "$B/obj/amx_kernels.o"
clang $CSAN -c Sources/CCaffeProto/caffe.pb-c.c -I Sources/CCaffeProto -o "$B/obj/caffe_pb.o"
clang $CSAN -c Sources/COnnxProto/onnx.pb-c.c -I Sources/COnnxProto -o "$B/obj/onnx_pb.o"
mkdir -p "$B/modules/CVggSupport" "$B/modules/CVggBF16" "$B/modules/CCaffeProto" "$B/modules/COnnxProto"
cp Sources/CVggSupport/include/vgg_support.h "$B/modules/CVggSupport/"
printf 'module CVggSupport {\n header "vgg_support.h"\n export *\n}\n' > "$B/modules/CVggSupport/module.modulemap"
cp Sources/CVggBF16/include/vgg_bf16.h Sources/CVggBF16/include/vgg_amx.h "$B/modules/CVggBF16/"
printf 'module CVggBF16 {\n header "vgg_bf16.h"\n header "vgg_amx.h"\n export *\n}\n' > "$B/modules/CVggBF16/module.modulemap"
cp Sources/CCaffeProto/include/caffe.pb-c.h "$B/modules/CCaffeProto/"
printf 'module CCaffeProto {\n header "caffe.pb-c.h"\n export *\n}\n' > "$B/modules/CCaffeProto/module.modulemap"
cp Sources/COnnxProto/include/onnx.pb-c.h "$B/modules/COnnxProto/"
printf 'module COnnxProto {\n header "onnx.pb-c.h"\n export *\n}\n' > "$B/modules/COnnxProto/module.modulemap"
KINC="-I $B/modules/CVggSupport -I $B/modules/CVggBF16"
CINC="$KINC -I $B/modules/CCaffeProto -I $B/modules/COnnxProto -I Sources/CProtobufC -I Sources/CHDF5 -Xcc -I/usr/include/hdf5/serial"

module VGGFormat "" Sources/VGGFormat/*.swift
module VGGKernelABI "" Sources/VGGKernelABI/*.swift
module VGGKernelsBase "$KINC" Sources/VGGKernelsBase/*.swift
module VGGKernelsV3 "$KINC -Xcc -march=x86-64-v3" Sources/VGGKernelsV3/*.swift
module VGGKernelsV4 "$KINC -Xcc -march=x86-64-v4" Sources/VGGKernelsV4/*.swift
module VGGEngine "$CINC" $(find Sources/VGGEngine -name "*.swift" | sort)
module AtomicFile "" Sources/AtomicFile/*.swift
module ClassLabels "" Sources/ClassLabels/*.swift
module VGGConvert "$CINC" Sources/VGGConvert/*.swift

ENGINE="$B/obj/VGGFormat.o $B/obj/VGGKernelABI.o $B/obj/VGGKernelsBase.o $B/obj/VGGKernelsV3.o $B/obj/VGGKernelsV4.o $B/obj/VGGEngine.o $B/obj/cpu_features.o $B/obj/bf16_kernels.o $B/obj/amx_kernels.o"
CONVERT="$B/obj/VGGFormat.o $B/obj/AtomicFile.o $B/obj/ClassLabels.o $B/obj/VGGConvert.o $B/obj/caffe_pb.o $B/obj/onnx_pb.o -lprotobuf-c -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5"
swiftc $SAN $CINC Tests/Fuzz/FuzzVGGReader.swift $ENGINE -o "$B/fuzz-vgg"
swiftc $SAN $CINC Tests/Fuzz/FuzzCaffeImporter.swift Tests/Fuzz/ConverterHarness.swift $CONVERT -o "$B/fuzz-caffe"
swiftc $SAN $CINC Tests/Fuzz/FuzzHDF5Importer.swift Tests/Fuzz/ConverterHarness.swift $CONVERT -o "$B/fuzz-hdf5"
swiftc $SAN $CINC Tests/Fuzz/FuzzTorchImporter.swift Tests/Fuzz/ConverterHarness.swift $CONVERT -o "$B/fuzz-torch"
swiftc $SAN $CINC Tests/Fuzz/FuzzSafetensorsImporter.swift Tests/Fuzz/ConverterHarness.swift $CONVERT -o "$B/fuzz-safetensors"
swiftc $SAN $CINC Tests/Fuzz/FuzzONNXImporter.swift Tests/Fuzz/ConverterHarness.swift $CONVERT -o "$B/fuzz-onnx"
echo "built $B/fuzz-vgg $B/fuzz-caffe $B/fuzz-hdf5 $B/fuzz-torch $B/fuzz-safetensors $B/fuzz-onnx"
