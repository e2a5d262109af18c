#!/usr/bin/env bash
# The peers for bench/compare.py, in a venv beside it (bench/.venv). CPU-only
# PyTorch wheels. Never run in CI: the benchmark is a developer's tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q --upgrade pip
"$here/.venv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch torchvision
"$here/.venv/bin/pip" install -q onnx onnxruntime grad-cam==1.5.7 opencv-python-headless numpy
echo "ready: $here/.venv/bin/python $here/compare.py"
