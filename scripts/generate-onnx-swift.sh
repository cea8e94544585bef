#!/usr/bin/env bash
# Regenerates Sources/MNISTKit/Export/Generated/onnx.pb.swift from onnx.proto3 beside it; both are
# checked in, so builds need neither protoc nor the plugin, and this script gives the same file
# whatever pip has installed. Needs Debian's protobuf-compiler and protoc-gen-swift built from
# swift-protobuf (the version Package.swift pins exactly).
# With --refresh-proto, first rewrites onnx.proto3 from pip's onnx (its onnx.in.proto, made into
# proto3 by onnx's own gen_proto.py, as ONNX's build does).
# Last run with onnx 1.23.2 and swift-protobuf 1.39.0.
set -euo pipefail
cd "$(dirname "$0")/.."
generated=Sources/MNISTKit/Export/Generated
plugin=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a built protoc-gen-swift (swift build -c release --product protoc-gen-swift in swift-protobuf)}
if [ "${1:-}" = "--refresh-proto" ]; then
    python3 - "$generated/onnx.proto3" <<'PY'
import os, sys
import onnx
folder = os.path.dirname(onnx.__file__)
sys.path.insert(0, folder)
import gen_proto
source = open(os.path.join(folder, "onnx.in.proto"), encoding="utf-8").read()
proto3 = gen_proto.autogen_header + gen_proto.translate(source, proto=3, onnx_ml=False, package_name="onnx")
open(sys.argv[1], "w", encoding="utf-8").write(proto3)
print("onnx", onnx.__version__)
PY
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$generated/onnx.proto3" "$work/"
(cd "$work" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. onnx.proto3)
cp "$work/onnx.pb.swift" "$generated/onnx.pb.swift"
