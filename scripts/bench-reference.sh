#!/usr/bin/env bash
# `make bench-reference`: a virtualenv with numpy, tensorflow-cpu, keras and torch
# (in .build-venv, out of git), then, for each config in CONFIG (default: all
# four below), mnist-bench and the reference programs on the same files in one
# run (see scripts/bench_reference.py), one JSON line each. Needs pip and the network.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, keras, tensorflow, torch" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check numpy tensorflow-cpu keras torch
fi
for config in ${CONFIG:-dense512.json mnist-cnn.json cnn.json mnist-fast.json}; do
    case "$config" in
        *mnist-*) data=${DATA:-../shared/data/mnist} ;;
        *) data=${DATA:-/usr/share/datasets/fashion-mnist} ;;
    esac
    "$venv/bin/python" scripts/bench_reference.py --config "$config" --data "$data" --bench .build/release/mnist-bench
done
