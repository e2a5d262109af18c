#!/usr/bin/env bash
# Regenerates Sources/CAMKit/ONNX/onnx.pb.swift from the onnx.proto that the
# `onnx` Python package ships. Run by hand when moving to a newer ONNX; the
# generated file is committed so that builds need neither protoc nor the
# plugin (building the plugin takes minutes).
#
# Needs: protoc (Debian's protobuf-compiler), pip, and the swift-protobuf
# package of the version Package.swift names (built here in a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ONNX_VERSION="${ONNX_VERSION:-1.23.2}"
SWIFT_PROTOBUF_VERSION="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v protoc >/dev/null || { echo "gen-onnx-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

pip download --quiet --no-deps -d "$work/wheel" "onnx==$ONNX_VERSION"
(cd "$work/wheel" && python3 -m zipfile -e onnx-*.whl extracted)
proto_dir="$work/wheel/extracted/onnx"

git clone --quiet https://github.com/apple/swift-protobuf "$work/swift-protobuf"
git -C "$work/swift-protobuf" checkout --quiet "$SWIFT_PROTOBUF_VERSION"
swift build --package-path "$work/swift-protobuf" -c release --product protoc-gen-swift

protoc --plugin=protoc-gen-swift="$work/swift-protobuf/.build/release/protoc-gen-swift" \
       --swift_out="$work" --swift_opt=Visibility=Internal \
       --proto_path="$proto_dir" "$proto_dir/onnx.proto"
cp "$work/onnx.pb.swift" Sources/CAMKit/ONNX/onnx.pb.swift
echo "gen-onnx-proto: wrote Sources/CAMKit/ONNX/onnx.pb.swift from onnx $ONNX_VERSION"
