#!/usr/bin/env bash
# Installs the system packages the build, the tests and the default dataset need,
# skipping what is already there. Uses sudo only when not root.
set -euo pipefail

# qemu-user runs the tools as on an older processor (CPUCheckTests); GNU parallel runs a sweep's
# plan (SweepTests, and docs/SWEEPS.md).
packages=(libopenblas-dev zlib1g-dev libpng-dev libhdf5-dev libzip-dev dataset-fashion-mnist qemu-user parallel)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "error: missing system packages: ${missing[*]}, and apt-get is not available to install them" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "Installing ${missing[*]} ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
