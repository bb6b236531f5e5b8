"""Time per sample of every registered method, on the MNIST-1D CNN and on a 2D ResNet-18.

    python benchmarks/bench_methods.py                  # all methods, CUDA when available
    python benchmarks/bench_methods.py --methods saliency gradcam --device cpu
    python benchmarks/bench_methods.py --threads 1      # on a CPU shared with other jobs

Each method runs with its defaults on a batch of test inputs (one warm-up call, then the best
of `--repeats` timed calls). Times are also given as multiples of the forward-pass floor, one
forward pass of the same batch measured in the same run, so that numbers from busy or different
machines stay comparable and regressions show as a larger multiple; samples/s is the
throughput, inputs explained per second. On a CPU that other jobs
keep busy, PyTorch's default of one thread per core can slow every call a hundredfold (threads
wait for each other); `--threads 1` gives steadier numbers there.

The 1D model is the trained `mnist1d_cnn` (trained once into the cache); the 2D model is
torchvision's ResNet-18 with random weights on 3 x 32 x 32 inputs (speed does not depend on
training).
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable

import torch
import torchvision
from common import cached_model, timed
from tabulate import tabulate

import xaibench
from xaibench.methods import METHODS
from xaibench.provenance import resolve_device
from xaibench.registry import XaibenchError, context_for


def best_time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Seconds of the fastest of `repeats` calls, after one warm-up call."""
    fn()
    return min(timed(fn, device) for _ in range(repeats))


def forward_floor(model, inputs, repeats, device) -> float:
    def forward():
        with torch.inference_mode():
            model(inputs)

    return best_time(forward, repeats, device)


def mnist1d_setting(device: torch.device, samples: int, cache_dir: str):
    data, trained = cached_model("mnist1d", "mnist1d_cnn", device, cache_dir)
    inputs = data.x_test[:samples].to(device)
    with torch.no_grad():
        target = trained.model(inputs).argmax(dim=1)
    return trained.model, inputs, target, data.x_train


def resnet_setting(device: torch.device, samples: int):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).to(device).eval()
    inputs = torch.randn(samples, 3, 32, 32, generator=generator).to(device)
    background = torch.randn(256, 3, 32, 32, generator=generator)  # CPU, as a run passes it
    with torch.no_grad():
        target = model(inputs).argmax(dim=1)
    return model, inputs, target, background


def time_methods(setting, methods: list[str], repeats: int, device: torch.device):
    model, inputs, target, background = setting
    floor = forward_floor(model, inputs, repeats, device)
    per_sample = {}
    for method in methods:
        extra = context_for(METHODS[method].fn, {"background": background})
        seconds = best_time(
            lambda method=method, extra=extra: xaibench.explain(
                model, inputs, target, method, **extra
            ),
            repeats,
            device,
        )
        per_sample[method] = seconds / len(inputs)
        print(f"  {method}: {1000 * per_sample[method]:.2f} ms/sample", flush=True)
    return floor / len(inputs), per_sample


def _multiple(ratio: float) -> str:
    return "<1" if ratio < 1 else f"{ratio:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=METHODS.names())
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--samples-1d", type=int, default=64)
    parser.add_argument("--samples-2d", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    parser.add_argument(
        "--cache-dir", default=os.environ.get("XAIBENCH_CACHE", "~/.cache/xaibench")
    )
    args = parser.parse_args()
    try:
        device = resolve_device(args.device)
    except XaibenchError as error:
        parser.error(str(error))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"1D: mnist1d_cnn, {args.samples_1d} test signals", flush=True)
    floor_1d, times_1d = time_methods(
        mnist1d_setting(device, args.samples_1d, args.cache_dir), args.methods, args.repeats,
        device,
    )  # fmt: skip
    print(f"2D: resnet18 (random weights), {args.samples_2d} images 3x32x32", flush=True)
    floor_2d, times_2d = time_methods(
        resnet_setting(device, args.samples_2d), args.methods, args.repeats, device
    )

    rows = [
        [
            method,
            METHODS[method].family,
            f"{1000 * times_1d[method]:.2f}",
            _multiple(times_1d[method] / floor_1d),
            f"{1 / times_1d[method]:.0f}",
            f"{1000 * times_2d[method]:.1f}",
            _multiple(times_2d[method] / floor_2d),
            f"{1 / times_2d[method]:.1f}",
        ]
        for method in args.methods
    ]
    headers = ["method", "family", "1D ms/sample", "1D x forward", "1D samples/s",
               "2D ms/sample", "2D x forward", "2D samples/s"]  # fmt: skip
    print()
    print(
        f"device {device} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads), torch {torch.__version__}, "
        f"xaibench {xaibench.__version__}; forward floor: 1D {1e6 * floor_1d:.1f} us/sample, "
        f"2D {1e3 * floor_2d:.2f} ms/sample"
    )
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


if __name__ == "__main__":
    main()
