"""What cheaper settings cost in variance: leaderboard cells redrawn with several seeds.

For each (method, metric) cell and setting, the cell's mean over the first `--samples` MNIST-1D
test inputs is computed with seeds 0 .. `--seeds`-1; printed: the mean over seeds, the standard
deviation over seeds (the spread that setting adds to a cell), and the seconds per seed.

    XAIBENCH_CACHE=.cache python benchmarks/bench_cheaper_settings.py [--samples 100] [--seeds 5]

About 4 minutes on one core; the first run trains the MNIST-1D CNN into the cache.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from common import cached_model
from torch import Tensor

import xaibench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, trained = cached_model()
    model = trained.model
    x = data.x_test[: args.samples]
    with torch.inference_mode():
        t = model(x).argmax(dim=1)

    def mean(maps: Tensor, metric: str, **params) -> float:
        return xaibench.evaluate(model, x, t, maps, metric, **params).scores.nanmean().item()

    saliency = xaibench.explain(model, x, t, "saliency")
    gradient_x_input = xaibench.explain(model, x, t, "input_x_gradient")
    cells: list[tuple[str, str, Callable[[int], float]]] = []
    for masks in (2000, 500):
        cells.append(("rise x deletion", f"num_masks={masks}", lambda seed, m=masks:
            mean(xaibench.explain(model, x, t, "rise", num_masks=m, seed=seed),
                 "deletion")))  # fmt: skip
    for count in (10, 5):
        cells.append(("saliency x max_sensitivity", f"perturbations={count}",
                      lambda seed, n=count: mean(saliency, "max_sensitivity", method="saliency",
                                                 perturbations=n, seed=seed)))  # fmt: skip
    for count in (100, 25):
        cells.append(("input_x_gradient x sensitivity_n", f"subsets={count}",
                      lambda seed, n=count: mean(gradient_x_input, "sensitivity_n", subsets=n,
                                                 seed=seed)))  # fmt: skip
    for copies in (50, 10):
        cells.append(("smoothgrad x deletion", f"noisy_copies={copies}", lambda seed, n=copies:
            mean(xaibench.explain(model, x, t, "smoothgrad", noisy_copies=n, seed=seed),
                 "deletion")))  # fmt: skip
    rows = []
    for cell, setting, compute in cells:
        values, seconds = [], []
        for seed in range(args.seeds):
            started = time.perf_counter()
            values.append(compute(seed))
            seconds.append(time.perf_counter() - started)
        rows.append({"cell": cell, "setting": setting, "mean over seeds": np.mean(values),
                     "sd over seeds": np.std(values, ddof=1),
                     "seconds per seed": np.mean(seconds)})  # fmt: skip
    print(f"MNIST-1D CNN, {len(x)} inputs, seeds 0..{args.seeds - 1}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(pd.DataFrame(rows).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
