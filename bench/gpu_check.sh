#!/usr/bin/env bash
# The GPU checks in one call, for the rare session that is lent a GPU machine (it has CuPy,
# PyTorch, pytest and hypothesis, no network, and only a few minutes of device time):
#
#   1. one epoch of the example with --backend cupy (samples, curve, checkpoint), then one
#      of examples/dcgan.py (its grid);
#   2. the training step beside PyTorch on CUDA, at batch 64, 128 and 512;
#   3. the test suite with "cuda" on real CuPy (the stand-in takes over only without a GPU).
#
# Most useful first: each step has its own time limit, so a slow one cannot eat the rest.
# The MNIST files must travel with the working tree: copy them into gpu-data/mnist (git
# ignores it) and name gpu-data in the run's carry. Results go to $OUT (the device tool's
# folder that comes back) or /tmp/gpu_check.
#
#   bash bench/gpu_check.sh            # cupy, on the GPU machine
#   bash bench/gpu_check.sh numpy      # the same script on the CPU: a rehearsal of the call
set -uo pipefail
cd "$(dirname "$0")/.."
backend=${1:-cupy}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
export PYTHONPATH=. PYTHONUNBUFFERED=1
python=${PYTHON:-python3}

step() {   # step NAME SECONDS COMMAND...: run it, keep its log, say how it ended
    local name=$1 seconds=$2
    shift 2
    echo "== $name (at most ${seconds}s): $*"
    timeout "$seconds" "$@" >"$out/$name.log" 2>&1
    local status=$?
    tail -n 25 "$out/$name.log"
    echo "== $name: exit $status"
}

"$python" -c "import numpy, tinygan; print('numpy', numpy.__version__)"
if [ "$backend" = cupy ]; then
    "$python" -c "import cupy; print('cupy', cupy.__version__, cupy.cuda.runtime.getDeviceCount(), 'GPU')" \
        || { echo "CuPy cannot reach a GPU here"; exit 1; }
fi

run=$(mktemp -d)            # the run's own files stay here; the grid and the curve come back
step example "${EXAMPLE_SECONDS:-150}" "$python" examples/mnist_gan.py --backend "$backend" --epochs 1 \
    --data-dir gpu-data/mnist --out "$run"
cp "$run/samples/epoch_001.png" "$out/samples-$backend.png" 2>/dev/null
cp "$run/loss_curve.png" "$out/loss-curve-$backend.png" 2>/dev/null
run_dc=$(mktemp -d)
step dcgan "${DCGAN_SECONDS:-120}" "$python" examples/dcgan.py --backend "$backend" --epochs 1 \
    --data-dir gpu-data/mnist --out "$run_dc"
cp "$run_dc/samples/epoch_001.png" "$out/dcgan-samples-$backend.png" 2>/dev/null
step bench "${BENCH_SECONDS:-150}" "$python" bench/gan_step.py --backend "$backend" --batch 64 128 512 --steps 50 \
    --json "$out/results-$backend.json"
# pytest-xdist, where installed, spreads the suite over the machine's cores; every failure is
# listed (no -x): a GPU call is too rare to stop at the first.
workers=$("$python" -c "import xdist" 2>/dev/null && echo "-n 8")
step tests "${TESTS_SECONDS:-240}" "$python" -m pytest -q -p no:cacheprovider $workers tests
