#!/bin/sh
# Regenerates Sources/CCaffeProto and Sources/COnnxProto from proto/caffe.proto and
# proto/onnx.proto with protoc-c (Debian's protobuf-c-compiler). The generated files are
# committed so builds need no protoc.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for pair in caffe:CCaffeProto onnx:COnnxProto; do
    name=${pair%%:*}; target=Sources/${pair#*:}
    protoc-c --proto_path=proto --c_out="$out" "proto/$name.proto"
    mkdir -p "$target/include"
    cp "$out/$name.pb-c.h" "$target/include/$name.pb-c.h"
    sed "s|#include \"$name.pb-c.h\"|#include \"include/$name.pb-c.h\"|" "$out/$name.pb-c.c" > "$target/$name.pb-c.c"
    echo "regenerated $target from proto/$name.proto ($(protoc-c --version | head -1))"
done
