"""What shared work saves on the re-explaining metrics of the whole leaderboard.

Every registered method's maps (defaults) of the first `--samples` MNIST-1D test inputs are
scored by the four metrics that re-explain (max_sensitivity, local_lipschitz,
model_randomisation, random_logit), the way a run scores them (`evaluate_many` per method,
with the method's name and settings), twice in this process: without shared work (as every
metric call computed its own before) and with it (as a run now scores, `sharing()`), in
alternating order over `--repeats` rounds, the best time of each kept. For each metric: the
model inputs run forward and backward (on the model and its copies) and the seconds, with and
without sharing, and the ratio of the times; the scores of both ways are checked equal bit for
bit.

    XAIBENCH_CACHE=.cache python benchmarks/bench_sharing.py [--samples 50] [--repeats 1]

The first run trains the model (about 30 s on 2 cores) into the cache.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import pandas as pd
import torch
from common import cached_model
from torch import Tensor, nn

import xaibench
from xaibench.counting import count_forwards
from xaibench.methods import METHODS
from xaibench.metrics import evaluate_many
from xaibench.metrics.sharing import sharing
from xaibench.registry import context_for

METRICS = ("max_sensitivity", "local_lipschitz", "model_randomisation", "random_logit")


def score_metrics(
    model: nn.Module, inputs: Tensor, target: Tensor, maps: dict[str, Tensor], background: Tensor,
    shared: bool, metrics: list[str],
) -> tuple[dict[str, dict], dict[str, list[Tensor]]]:  # fmt: skip
    """Per metric: forwards, backwards, seconds; and the scores, method by method."""
    costs, scores = {}, {}
    with sharing() if shared else nullcontext():
        for metric in metrics:
            started = time.perf_counter()
            with count_forwards(model) as counter:
                scores[metric] = [
                    evaluate_many(
                        model,
                        inputs,
                        target,
                        [maps[method]],
                        metric,
                        method=method,
                        method_params={},
                        background=background,
                    )[0].scores
                    for method in maps
                ]
            costs[metric] = {
                "forwards": counter.inputs,
                "backwards": counter.backwards,
                "seconds": time.perf_counter() - started,
            }
    return costs, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, trained = cached_model()
    model = trained.model
    inputs = data.x_test[: args.samples]
    with torch.inference_mode():
        target = model(inputs).argmax(dim=1)
    methods = xaibench.available_methods()
    maps = {}
    for method in methods:
        extra = context_for(METHODS[method].fn, {"background": data.x_train})
        maps[method] = xaibench.explain(model, inputs, target, method, **extra)
    print(
        f"MNIST-1D CNN, {len(methods)} methods x {len(args.metrics)} re-explaining metrics, "
        f"{len(inputs)} inputs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    best: dict[bool, dict[str, dict]] = {}
    results: dict[bool, dict[str, list[Tensor]]] = {}
    for round_ in range(args.repeats):
        for shared in (False, True) if round_ % 2 == 0 else (True, False):
            costs, results[shared] = score_metrics(
                model, inputs, target, maps, data.x_train, shared, args.metrics
            )
            for metric, cost in costs.items():
                kept = best.setdefault(shared, {}).setdefault(metric, cost)
                kept["seconds"] = min(kept["seconds"], cost["seconds"])
    for metric in args.metrics:
        for before, after in zip(results[False][metric], results[True][metric], strict=True):
            torch.testing.assert_close(after, before, rtol=0, atol=0, equal_nan=True)
    rows = []
    for metric in [*args.metrics, "total"]:
        if metric == "total":
            alone, shared_cost = (
                {
                    key: sum(best[flag][m][key] for m in args.metrics)
                    for key in best[flag][args.metrics[0]]
                }
                for flag in (False, True)
            )
        else:
            alone, shared_cost = best[False][metric], best[True][metric]
        rows.append({
            "metric": metric,
            "forwards alone": alone["forwards"],
            "forwards shared": shared_cost["forwards"],
            "backwards alone": alone["backwards"],
            "backwards shared": shared_cost["backwards"],
            "seconds alone": round(alone["seconds"], 2),
            "seconds shared": round(shared_cost["seconds"], 2),
            "time ratio shared/alone": round(shared_cost["seconds"] / alone["seconds"], 3),
        })  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False))
    print("Scores with and without sharing: identical bit for bit.")


if __name__ == "__main__":
    main()
