"""The whole catalogue: every built-in method x every metric, against its own floor.

Every built-in method (defaults) explains the first `--samples` test inputs and every metric
(defaults) scores every method's maps, the way a run does it: explanations in `batch_size`
blocks; metrics inside one `sharing()` block, a metric that does not re-explain scoring all
methods' maps in one call (forwards that do not depend on the map made once), a re-explaining
one called per method with that method's name. Every stage counts the model inputs it runs
forward and backward (on the model and its copies).

The floor is that same work done bare: the stages' forwards and backwards, timed in this
process at the best of batch sizes 128, 256, 1024 and 4096 (per-row time of a few full
batches, the best of three measurements before and three after the work, times the row
counts: forwards under inference mode, backwards as forward-with-gradient plus backward).
ratio = wall time / floor.

The cells table holds one (method, metric) per row. A re-explaining metric is timed per method;
a metric that scores every method's maps in one call is timed once, and each of its cells gets
an equal share (its work per method is the same).

    XAIBENCH_CACHE=.cache python benchmarks/bench_catalogue.py [--setup mnist1d|shapes]
        [--samples 1000] [--threads 1] [--device cpu] [--out results/bench_catalogue]

MNIST-1D at 1000 inputs takes about an hour on one core; shapes at 100 inputs longer per input.
The first run trains the model into the cache.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from common import batch_of, cached_model
from torch import Tensor, nn

from xaibench.counting import count_forwards
from xaibench.methods import METHODS, explain_in_batches
from xaibench.metrics import METRICS, evaluate_many
from xaibench.metrics.sharing import sharing
from xaibench.models import predict_classes
from xaibench.provenance import resolve_device
from xaibench.registry import context_for

SETUPS = {"mnist1d": ("mnist1d", "mnist1d_cnn"), "shapes": ("shapes", "cnn2d")}
FLOOR_BATCHES = (128, 256, 1024, 4096)
BATCH_SIZE = 4096  # the run's default


def counted(model: nn.Module, work: Callable[[], object]) -> tuple[object, dict]:
    """`work()`'s result, and its seconds, forwards and backwards."""
    started = time.perf_counter()
    with count_forwards(model) as counter:
        result = work()
    seconds = time.perf_counter() - started
    return result, {"seconds": seconds, "forwards": counter.inputs,
                    "backwards": counter.backwards}  # fmt: skip


def per_row_seconds(model: nn.Module, inputs: Tensor, backward: bool) -> tuple[float, int]:
    """The fastest time per row over the floor's batch sizes, and the batch size giving it."""
    best = (float("inf"), 0)
    for size in FLOOR_BATCHES:
        batch = batch_of(inputs, size)
        batches = max(2, 2 * FLOOR_BATCHES[-1] // size)  # enough rows to time at every size
        times = []
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(batches):
                if backward:
                    x = batch.clone().requires_grad_(True)
                    model(x).sum().backward()
                else:
                    with torch.inference_mode():
                        model(batch)
            times.append((time.perf_counter() - started) / (batches * size))
        best = min(best, (min(times), size))
    return best


def floor_rows(model: nn.Module, inputs: Tensor) -> tuple[tuple[float, int], tuple[float, int]]:
    """The per-row (seconds, batch size) of a bare forward, and of a forward with backward."""
    return per_row_seconds(model, inputs, backward=False), per_row_seconds(model, inputs, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=SETUPS, default="mnist1d")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--metrics", nargs="+", default=None)
    parser.add_argument("--out", default="results/bench_catalogue")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dataset, model_name = SETUPS[args.setup]
    data, trained = cached_model(dataset, model_name, device)
    model = trained.model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    inputs = data.x_test[: args.samples].to(device)
    target = predict_classes(model, inputs, BATCH_SIZE)
    context = {"background": data.x_train.to(device)}
    if data.masks_test is not None:  # shapes: the localisation metrics' ground truth
        context["masks"] = data.masks_test[: args.samples].to(device)
    methods = args.methods or METHODS.builtin_names()
    metrics = args.metrics or METRICS.builtin_names()

    # The floor is timed before and after the work and the faster kept: other jobs sharing
    # the CPU slow a measurement, never speed it up.
    floors = [floor_rows(model, inputs)]
    maps, explain_costs = {}, {}
    for method in methods:
        extra = context_for(METHODS[method].fn, context)
        maps[method], explain_costs[method] = counted(model, lambda m=method, e=extra:
            explain_in_batches(model, inputs, target, m, e, BATCH_SIZE))  # fmt: skip
        print(f"explain {method}: {explain_costs[method]['seconds']:.1f} s", flush=True)

    out = Path(args.out) / args.setup
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "cells_so_far.csv"
    metric_costs, cells = {}, []
    with sharing():
        for metric in metrics:
            info = METRICS[metric]
            params = context_for(info.score_many, context)
            if "batch_size" in info.settings():
                params["batch_size"] = BATCH_SIZE
            if info.reexplains:
                costs = []
                for method in methods:
                    _, cost = counted(model, lambda m=method, name=metric, p=params:
                        evaluate_many(model, inputs, target, [maps[m]], name, **p, method=m,
                                      method_params={}))  # fmt: skip
                    cells.append({"method": method, "metric": metric, "seconds": cost["seconds"]})
                    costs.append(cost)
                metric_costs[metric] = {key: sum(c[key] for c in costs) for key in costs[0]}
            else:
                _, metric_costs[metric] = counted(model, lambda m=metric, p=params: evaluate_many(
                    model, inputs, target, [maps[k] for k in methods], m, **p))  # fmt: skip
                share = metric_costs[metric]["seconds"] / len(methods)
                cells += [{"method": k, "metric": metric, "seconds": share} for k in methods]
            print(f"score {metric}: {metric_costs[metric]['seconds']:.1f} s", flush=True)
            pd.DataFrame(cells).to_csv(partial, index=False)  # a long run's work so far

    floors.append(floor_rows(model, inputs))
    (forward_row, forward_batch), (backward_row, backward_batch) = (
        min(floor[kind] for floor in floors) for kind in (0, 1)
    )

    def floor(cost: dict) -> float:
        bare = cost["forwards"] - cost["backwards"]
        return bare * forward_row + cost["backwards"] * backward_row

    rows = [{"stage": f"explain/{k}", **v} for k, v in explain_costs.items()]
    rows += [{"stage": f"evaluate/{k}", **v} for k, v in metric_costs.items()]
    table = pd.DataFrame(rows)
    table["floor seconds"] = [floor(row) for row in rows]
    total = table[["seconds", "forwards", "backwards", "floor seconds"]].sum()
    table.loc[len(table)] = {"stage": "total", **total.to_dict()}
    table["ratio"] = table["seconds"] / table["floor seconds"]
    cell_table = pd.DataFrame(cells + [{"method": k, "metric": "(explain)", "seconds": v["seconds"]}
                                       for k, v in explain_costs.items()])  # fmt: skip
    cell_table["share of total"] = cell_table["seconds"] / total["seconds"]
    top = cell_table.sort_values("seconds", ascending=False).head(5)

    table.to_csv(out / "stages.csv", index=False)
    cell_table.to_csv(out / "cells.csv", index=False)
    header = (
        f"{args.setup}: {model_name} (test accuracy {trained.test_accuracy:.3f}), "
        f"{len(inputs)} inputs, {len(methods)} methods x {len(metrics)} metrics, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}; floor per row: "
        f"forward {forward_row * 1e6:.2f} us (batch {forward_batch}), forward+backward "
        f"{backward_row * 1e6:.2f} us (batch {backward_batch})"
    )
    text = "\n\n".join([
        header,
        f"Wall {total['seconds']:.0f} s, floor {total['floor seconds']:.0f} s, "
        f"ratio {total['seconds'] / total['floor seconds']:.2f}",
        table.round({"seconds": 2, "floor seconds": 2, "ratio": 2}).to_markdown(index=False),
        "The five most expensive cells:",
        top.round({"seconds": 1, "share of total": 3}).to_markdown(index=False),
    ])  # fmt: skip
    (out / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
