#!/usr/bin/env bash
# The GPU run in one prepared script (bench/gpu.py says what it measures).
#
#   bash bench/gpu.sh --pack     # here, with the network: the data and Keras's wheels into
#                                # bench/gpu_carry/ (git-ignored, about 52 MB) for a machine
#                                # that has a GPU, JAX or PyTorch, but no Keras and no network
#   bash bench/gpu.sh            # there: the measurements, at most about 5 minutes
#   bash bench/gpu.sh --smoke    # anywhere: the same script on 600 images, in seconds
#
# There it uses TensorFlow when it can import it, else JAX, else PyTorch (KERAS_BACKEND set
# beforehand wins); it installs the carried wheels into a virtual environment that sees the
# machine's own packages (its JAX with CUDA) when Keras is missing, and reads the carried
# Fashion-MNIST files. The JSON goes to $BENCH_RESULTS_DIR, else $OUT when set, else
# bench/results/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
CARRY="$HERE/gpu_carry"
# Python versions the carried binary wheels (optree, h5py) are fetched for; ml-dtypes,
# which Keras needs too, comes with JAX (and the 64 MB a device call carries has no room for it)
PACK_PYTHONS="${GPU_PACK_PYTHONS:-3.10 3.11 3.12}"

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"
    elif [[ -x "$ROOT/.venv/bin/python" ]]; then echo "$ROOT/.venv/bin/python"
    else command -v python3; fi
}

pack() {
    local python
    python="$(pick_python)"
    rm -rf "$CARRY" && mkdir -p "$CARRY/data" "$CARRY/wheels"
    local data="${FMNIST_DATA_DIR:-/usr/share/datasets/fashion-mnist}"
    cp "$data"/*-ubyte.gz "$CARRY/data/"
    "$python" -m pip download -q --no-deps -d "$CARRY/wheels" keras namex absl-py rich \
        markdown-it-py mdurl pygments packaging
    for version in $PACK_PYTHONS; do
        "$python" -m pip download -q --only-binary=:all: --no-deps -d "$CARRY/wheels" \
            --python-version "$version" --platform manylinux2014_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
            optree h5py
    done
    echo "Packed $(du -sh "$CARRY" | cut -f1) into $CARRY; carry bench/gpu_carry and run:"
    echo "    bash bench/gpu.sh"
}

backend() {
    local python="$1" name
    if [[ -n "${KERAS_BACKEND:-}" ]]; then echo "$KERAS_BACKEND"; return; fi
    for name in tensorflow jax torch; do
        if "$python" -c "import $name" 2>/dev/null; then echo "$name"; return; fi
    done
    echo "none"
}

if [[ "${1:-}" == "--pack" ]]; then pack; exit 0; fi

PYTHON_BIN="$(pick_python)"
if ! "$PYTHON_BIN" -c "import keras" 2>/dev/null; then
    if [[ ! -d "$CARRY/wheels" ]]; then
        echo "Keras is not installed here and bench/gpu_carry/wheels is missing:" \
             "run 'bash bench/gpu.sh --pack' where pip can download, and carry the folder." >&2
        exit 2
    fi
    VENV="${TMPDIR:-/tmp}/studio-gpu-venv"
    "$PYTHON_BIN" -m venv --system-site-packages "$VENV"
    "$VENV/bin/python" -m pip install -q --no-index --find-links "$CARRY/wheels" keras
    PYTHON_BIN="$VENV/bin/python"
fi

KERAS_BACKEND="$(backend "$PYTHON_BIN")"
if [[ "$KERAS_BACKEND" == "none" ]]; then
    echo "None of TensorFlow, JAX or PyTorch can be imported here: Keras has no backend." >&2
    exit 2
fi
export KERAS_BACKEND
# JAX takes 75 % of the card's memory at its first use unless told not to: the drain's two
# worker processes and the test's own process share one card
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export STUDIO_NO_DOWNLOAD=1 TF_CPP_MIN_LOG_LEVEL=3
if [[ -d "$CARRY/data" ]]; then export FMNIST_DATA_DIR="$CARRY/data"; fi
if [[ -z "${BENCH_RESULTS_DIR:-}" && -n "${OUT:-}" ]]; then export BENCH_RESULTS_DIR="$OUT"; fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
echo "Python $("$PYTHON_BIN" -c 'import sys; print(sys.version.split()[0])'), Keras backend" \
     "$KERAS_BACKEND"
cd "$ROOT"
exec "$PYTHON_BIN" bench/gpu.py "$@"
