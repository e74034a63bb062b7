#!/usr/bin/env bash
# The GPU check: fit vs the bare training step (resnet18, resnet50; 5x64x64 bf16; data and
# augmentations on the GPU), compile=True vs eager, transform vs the raw loop, augmentation
# time as a fraction of a resnet18 step, peak GPU memory -- one table, under 8 minutes on one
# modern GPU. Exits 1 with a message when torch sees no CUDA device.
#
#   bash benchmarks/gpu_check.sh                         # on a GPU machine
#   bash benchmarks/gpu_check.sh --device cpu --quick    # seconds: the code path on the CPU
#
# Options are those of gpu_check.py (--help). Run from anywhere; the package is imported from
# this checkout when it is not installed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
cd "$here"
exec "${PYTHON:-python}" gpu_check.py "$@"
