#!/usr/bin/env bash
# Regenerates Sources/MNISTKit/TensorBoard/Generated/*.pb.swift from the TensorBoard protos beside
# them (event.proto and what it imports: Event, Summary, HistogramProto, TensorProto); protos and
# Swift are checked in, so builds need neither protoc nor the plugin. Needs Debian's
# protobuf-compiler and protoc-gen-swift built from swift-protobuf (the version Package.swift pins).
# With --refresh-proto CHECKOUT, first copies the protos from a checkout of
# github.com/tensorflow/tensorboard (tensorboard/compat/proto/).
# Last run with tensorboard 70b76c922822dcccc3e8d7e5dd89860948690357 and swift-protobuf 1.39.0.
set -euo pipefail
cd "$(dirname "$0")/.."
generated=Sources/MNISTKit/TensorBoard/Generated
protos="event summary histogram tensor tensor_shape types resource_handle"
plugin=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a built protoc-gen-swift (swift build -c release --product protoc-gen-swift in swift-protobuf)}
if [ "${1:-}" = "--refresh-proto" ]; then
    for name in $protos; do
        cp "${2:?give the tensorboard checkout}/tensorboard/compat/proto/$name.proto" "$generated/tensorboard/compat/proto/"
    done
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$generated" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out="$work" \
    $(for name in $protos; do echo "tensorboard/compat/proto/$name.proto"; done))
for name in $protos; do
    cp "$work/tensorboard/compat/proto/$name.pb.swift" "$generated/$name.pb.swift"
done
