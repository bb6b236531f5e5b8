"""Where the perturbing metrics' time goes against the best-batch floor: the batch size.

Each metric scores the same maps at two `batch_size` values (alternating, best of `--repeats`),
and the floor is timed at each of batch sizes 128, 256, 1024 and 4096 (bare forwards of the
model, as many inputs as the metric runs); the ratio is each metric time over the best floor.
The scores at both batch sizes are checked equal bit for bit.

    XAIBENCH_CACHE=.cache python benchmarks/bench_batch_size.py [--samples 500] [--threads 1]

About 3 minutes on one core; the first run trains the MNIST-1D CNN into the cache.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from common import batch_of, cached_model
from torch import Tensor, nn

import xaibench
from xaibench.counting import count_forwards

# Every metric that runs perturbed inputs forward (perturb.forward_grid).
METRICS = (
    "deletion", "insertion", "aopc_morf", "aopc_lerf", "sensitivity_n",
    "faithfulness_correlation", "infidelity", "monotonicity", "road_morf", "road_lerf",
)  # fmt: skip
FLOOR_BATCHES = (128, 256, 1024, 4096)


@torch.inference_mode()
def floor_seconds(model: nn.Module, inputs: Tensor, rows: int, size: int) -> float:
    """Seconds of `rows` bare forwards in batches of `size`, from the per-row time of a few."""
    batch = batch_of(inputs, size)
    repeats = max(2, 16384 // size)
    model(batch)
    started = time.perf_counter()
    for _ in range(repeats):
        model(batch)
    return (time.perf_counter() - started) / (repeats * size) * rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs=2, default=[256, 4096])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, trained = cached_model()
    model = trained.model
    inputs = data.x_test[: args.samples]
    with torch.inference_mode():
        target = model(inputs).argmax(dim=1)
    maps = xaibench.explain(model, inputs, target, "input_x_gradient")
    small, large = args.batch_sizes
    rows = []
    for metric in METRICS:
        with count_forwards(model) as counter:
            xaibench.evaluate(model, inputs, target, maps, metric)
        forwards = counter.inputs
        seconds: dict[int, list[float]] = {small: [], large: []}
        scores: dict[int, Tensor] = {}
        floors: dict[int, list[float]] = {size: [] for size in FLOOR_BATCHES}
        for round_ in range(args.repeats):
            for size in (small, large) if round_ % 2 == 0 else (large, small):
                started = time.perf_counter()
                result = xaibench.evaluate(model, inputs, target, maps, metric, batch_size=size)
                seconds[size].append(time.perf_counter() - started)
                scores[size] = result.scores
            for size in FLOOR_BATCHES:
                floors[size].append(floor_seconds(model, inputs, forwards, size))
        torch.testing.assert_close(scores[small], scores[large], rtol=0, atol=0, equal_nan=True)
        best = {size: min(times) for size, times in floors.items()}
        floor_batch = min(best, key=lambda size: best[size])
        rows.append({
            "metric": metric, "forwards": forwards,
            f"s, batch_size {small}": min(seconds[small]),
            f"s, batch_size {large}": min(seconds[large]),
            "best floor (s)": best[floor_batch], "floor's batch": floor_batch,
            f"ratio at {large}": min(seconds[large]) / best[floor_batch],
            f"ratio at {small}": min(seconds[small]) / best[floor_batch],
        })  # fmt: skip
    print(f"MNIST-1D CNN, {len(inputs)} inputs, input_x_gradient maps, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")  # fmt: skip
    print(pd.DataFrame(rows).round(2).to_markdown(index=False))
    print(f"Scores at batch_size {small} and {large}: identical bit for bit.")


if __name__ == "__main__":
    main()
