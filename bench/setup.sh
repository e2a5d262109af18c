#!/usr/bin/env bash
# The peers for bench/compare.py, in a venv beside it (bench/.venv). CPU-only
# PyTorch wheels where PyTorch's index is reachable. Never run in CI: the
# benchmark is a developer's tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install -q --upgrade pip
# CPU-only wheels from PyTorch's own index where it can be reached; else
# the default index's (larger, with CUDA libraries that stay unused).
if ! "$here/.venv/bin/pip" install -q --retries 1 --timeout 30 --index-url https://download.pytorch.org/whl/cpu torch torchvision; then
    echo "setup.sh: PyTorch's CPU index is out of reach; torch and torchvision from the default index instead" >&2
    "$here/.venv/bin/pip" install -q torch torchvision
fi
"$here/.venv/bin/pip" install -q onnx onnxruntime grad-cam==1.5.7 opencv-python-headless numpy
echo "ready: $here/.venv/bin/python $here/compare.py"
