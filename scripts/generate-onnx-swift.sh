#!/usr/bin/env bash
# Regenerates Sources/MNISTKit/Export/onnx.pb.swift, which is checked in so that builds need
# neither protoc nor the plugin. Needs: pip's onnx (its onnx.in.proto, made into onnx.proto3 by
# onnx's own gen_proto.py, as ONNX's build does), Debian's protobuf-compiler, and
# protoc-gen-swift built from swift-protobuf.
# Last run with onnx 1.23.2 and swift-protobuf 1.39.0.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a built protoc-gen-swift (swift build -c release --product protoc-gen-swift in swift-protobuf)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import os, sys
import onnx
folder = os.path.dirname(onnx.__file__)
sys.path.insert(0, folder)
import gen_proto
source = open(os.path.join(folder, "onnx.in.proto"), encoding="utf-8").read()
proto3 = gen_proto.autogen_header + gen_proto.translate(source, proto=3, onnx_ml=False, package_name="onnx")
open(os.path.join(sys.argv[1], "onnx.proto3"), "w", encoding="utf-8").write(proto3)
print("onnx", onnx.__version__)
PY
(cd "$work" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. onnx.proto3)
cp "$work/onnx.pb.swift" Sources/MNISTKit/Export/onnx.pb.swift
