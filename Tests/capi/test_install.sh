#!/usr/bin/env bash
# `make install` into a temporary prefix, then the C example built the way a
# user builds it (installed header, pkg-config, installed library), run on a
# fixture image, and its boxes compared with the installed `camkit
# localize`'s. Also checks what the installed library exports and needs, and
# that `make uninstall` removes every file. Run from the repository root
# after `make`.
set -euo pipefail

passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }

prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s install PREFIX="$prefix" >/dev/null

lib="$prefix/lib/libcam.so.1"
check "libcam.so, .so.1 and the versioned file are installed" \
    "[ -L '$prefix/lib/libcam.so' ] && [ -L '$lib' ] && [ -f \"\$(readlink -f '$lib')\" ]"
check "SONAME is libcam.so.1" "readelf -d '$lib' | grep -q 'SONAME.*\\[libcam.so.1\\]'"
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Z]$/ && $2 != "A" {print $3}' | sed 's/@.*//' | sort)
check "only cam_* symbols are exported (got: $(echo "$exports" | grep -v '^cam_' | head -3 | tr '\n' ' '))" \
    "! echo \"\$exports\" | grep -qv '^cam_'"
declared=$(grep -o '\bcam_[a-z_]*(' include/cam.h | tr -d '(' | sort -u)
check "every function declared in cam.h is exported" "[ \"\$declared\" = \"\$exports\" ]"
check "no Swift runtime needed at run time" "! ldd '$lib' | grep -qi swift"
check "the installed camkit needs no Swift runtime" "! ldd '$prefix/bin/camkit' | grep -qi swift"
check "cam.pc names the version of cam.h" \
    "PKG_CONFIG_PATH='$prefix/lib/pkgconfig' pkg-config --modversion cam | grep -qx \"\$(sed -n 's/^#define CAM_VERSION_STRING \"\\(.*\\)\"/\\1/p' include/cam.h)\""

# The example, built only from what was installed.
example="$prefix/localize"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -Wall -Wextra -Werror examples/c/localize.c \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs cam) -Wl,-rpath,"$prefix/lib" -o "$example"
check "the example links the installed library" "ldd '$example' | grep -q '$prefix/lib/libcam.so.1'"

fixtures=../shared/fixtures
for pair in tiny_resnet:coffee_baseline.jpg tiny_vgg_gap:rocket_gray.png tiny_mobilenet:chelsea_rgba.png; do
    model="$fixtures/models/${pair%%:*}/model.onnx"; image="$fixtures/images/${pair#*:}"
    ours=$("$example" "$model" "$image" 1 5 | awk '{print $2, $5, $6, $7, $8}')
    theirs=$("$prefix/bin/camkit" localize "$model" "$image" --method gradcam --top-k 5 --json |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.readline())
for p in r["predictions"]: print(p["class"], *p["box"])')
    check "${pair}: the C example's boxes equal camkit localize's" "[ -n \"\$ours\" ] && [ \"\$ours\" = \"\$theirs\" ]"
done
status=0
message=$("$example" /nonexistent.onnx "$fixtures/images/rocket_gray.png" 2>&1 >/dev/null) || status=$?
check "the example reports a missing model on stderr with a non-zero exit (got $status: $message)" \
    "[ $status -ne 0 ] && echo \"\$message\" | grep -q 'nonexistent.onnx'"

make -s uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" \( -type f -o -type l \) ! -name localize | head -5)
check "make uninstall removes every installed file (left: $left)" "[ -z \"\$left\" ]"

echo "test_install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
