#!/usr/bin/env bash
# `make bench-reference`: a virtualenv with numpy, tensorflow-cpu and keras (in
# .build-venv, out of git), then mnist-bench, a hand-written NumPy trainer and
# the Keras program on the same files, in one run. Needs pip and the network.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, keras, tensorflow" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check numpy tensorflow-cpu keras
fi
data=${DATA:-/usr/share/datasets/fashion-mnist}
"$venv/bin/python" scripts/bench_reference.py --data "$data" --bench .build/release/mnist-bench
