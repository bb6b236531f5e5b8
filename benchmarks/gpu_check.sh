#!/usr/bin/env bash
# For a maintainer with a GPU: check that xaibench gives the CPU's results on CUDA and measure
# its throughput there (docs/guide/gpu.md says what this covers).
#
#     benchmarks/gpu_check.sh [OUTPUT_FOLDER]     # default: gpu-check-<date>-<time>
#
# Steps, each writing its output to OUTPUT_FOLDER (and the terminal):
#   1. CUDA visible to PyTorch, else one line and exit 1  -> environment.txt
#   2. the device tests: every method and metric on CUDA against the CPU (pytest -m gpu)
#                                                         -> tests.txt
#   3. a whole run on CUDA (debug=fast)                   -> run.txt, run/
#   4. bench_methods.py and bench_metrics.py --device cuda -> bench_methods.txt, bench_metrics.txt
# It goes on after a failing step and exits 1 if any failed. Read from the environment:
#   PYTHON              default: the repository's .venv/bin/python, else python
#   XAIBENCH_CACHE      trained models (the first benchmark trains the MNIST-1D CNN into it)
#   XAIBENCH_TEST_DEVICE  the device to check, default cuda (cuda:1 for another GPU; cpu runs
#                       every step on the CPU, to try the script itself on a machine without one)
#   BENCH_METHODS_ARGS, BENCH_METRICS_ARGS  more arguments for each benchmark, e.g. "--repeats 5"
set -uo pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python
    [[ -x .venv/bin/python ]] && PYTHON=.venv/bin/python
fi
export XAIBENCH_TEST_DEVICE="${XAIBENCH_TEST_DEVICE:-cuda}"
device=$XAIBENCH_TEST_DEVICE
out="${1:-gpu-check-$(date -u +%Y%m%d-%H%M%S)}"

if [[ $device == cuda* ]] &&
    ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: CUDA is not available to PyTorch ($PYTHON); run this on a machine with a GPU and a CUDA build of torch" >&2
    exit 1
fi
mkdir -p "$out" || exit 1

failed=()
step() {  # step NAME COMMAND...: run COMMAND, its output to $out/NAME.txt too
    local name=$1
    shift
    echo "== $name: $*"
    if ! "$@" 2>&1 | tee "$out/$name.txt"; then
        failed+=("$name")
    fi
}

step environment "$PYTHON" -c "
import platform, torch, xaibench
print('xaibench', xaibench.__version__, '| torch', torch.__version__, '| CUDA', torch.version.cuda,
      '| cuDNN', torch.backends.cudnn.version(), '| python', platform.python_version())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f'cuda:{i}', p.name, f'{p.total_memory / 2**30:.1f} GiB')
"
step tests "$PYTHON" -m pytest -p no:cacheprovider -m gpu -rs
step run "$PYTHON" -m xaibench debug=fast "device=$device" "hydra.run.dir=$out/run"
# shellcheck disable=SC2086  # the extra arguments are split into words on purpose
step bench_methods "$PYTHON" benchmarks/bench_methods.py --device "$device" ${BENCH_METHODS_ARGS:-}
# shellcheck disable=SC2086
step bench_metrics "$PYTHON" benchmarks/bench_metrics.py --device "$device" ${BENCH_METRICS_ARGS:-}

if ((${#failed[@]})); then
    echo "gpu_check: failed: ${failed[*]} (outputs in $out/)" >&2
    exit 1
fi
echo "gpu_check: all steps passed; outputs in $out/"
