#!/bin/sh
# Checks that libvgg.so exports exactly the functions declared in vgg.h: nothing missing,
# nothing extra (Swift or C internals leaking out), and that it has the expected soname.
set -eu
lib=$1
header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Declared: identifiers followed by '(' on lines that declare vgg_* functions.
grep -oE '\bvgg_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u > "$tmp/declared"
# Exported: global defined dynamic symbols, version suffix removed, the version node dropped.
nm -D --defined-only --extern-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -v '^LIBVGG_' | sort -u > "$tmp/exported"
status=0
if ! diff -u "$tmp/declared" "$tmp/exported" > "$tmp/diff"; then
    echo "exported symbols differ from vgg.h (- declared only, + exported only):"
    cat "$tmp/diff"
    status=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libvgg.so.0" ] || { echo "soname: expected libvgg.so.0, found '$soname'"; status=1; }
if ldd "$lib" | grep -i swift; then echo "libvgg.so depends on Swift libraries (expected the runtime linked statically)"; status=1; fi
n=$(wc -l < "$tmp/declared")
if [ $status = 0 ]; then echo "exports: $n functions match vgg.h"; echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $status
