#!/bin/sh
# Regenerates Sources/CCaffeProto from proto/caffe.proto with protoc-c (Debian's
# protobuf-c-compiler). The generated files are committed so builds need no protoc.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
protoc-c --proto_path=proto --c_out="$out" proto/caffe.proto
cp "$out/caffe.pb-c.h" Sources/CCaffeProto/include/caffe.pb-c.h
sed 's|#include "caffe.pb-c.h"|#include "include/caffe.pb-c.h"|' "$out/caffe.pb-c.c" > Sources/CCaffeProto/caffe.pb-c.c
echo "regenerated Sources/CCaffeProto from proto/caffe.proto ($(protoc-c --version | head -1))"
