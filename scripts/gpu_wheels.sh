#!/usr/bin/env bash
# Wheels that a GPU machine without network lacks, for its CPython 3.12 on manylinux x86-64, into .gpu-wheels/
# (pure-Python packages, about 7 MB). `make gpu-check` installs them there when they are missing.
# torch, torchvision, numpy, pillow, pyyaml, safetensors, onnx, onnxruntime, pytest and pytest-xdist are
# expected on such a machine already (a CUDA image with PyTorch); the engine needs no Qt.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(pydicom nibabel "lightly>=1.6" optuna colorlog tqdm)  # optuna: the sweep test (one worker per GPU)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu-wheels "${PACKAGES[@]}"
ls -1 .gpu-wheels
