"""What checking a cache entry costs: the sha256 of its bytes against the time to load it.

    python benchmarks/bench_cache.py --threads 1                # a fresh cache in a temp folder
    XAIBENCH_CACHE=.cache python benchmarks/bench_cache.py      # or entries already built

The largest entries a run makes: the shapes dataset (4000 + 1000 RGB images of 64 x 64 with
their masks) and cnn2d trained on it, the mnist1d dataset and its CNN, and a ResNet-18's
weights (random: the size is what counts), saved as a cache entry. For each, the best of
`--repeats` timings, with the files in the page cache as they are right after a run wrote or
read them:

- a plain `torch.load` of the file (how the cache read before it checked), the sha256 alone,
  and the checked read (`read_entry`: size, sha256, then the load from the same open file);
- the checked write (`write_entry`: torch.save, the sha256, the sidecar) against a plain
  `torch.save`.

The models are trained for `--epochs` epochs (the size of the weights does not depend on it;
the first run trains them, about 10 s per epoch for cnn2d on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from tabulate import tabulate

from xaibench.cache import Cache
from xaibench.cache_entries import read_entry, sha256_of, write_entry
from xaibench.data import load_dataset
from xaibench.models import ModelSpec, get_model


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def dataset_entry(cache: Cache, name: str) -> Path:
    """The cache file of dataset `name` (its sidecar's spec names it)."""
    for path in (cache.root / "datasets").glob("*.pt"):
        if json.loads(path.with_suffix(".json").read_text())["spec"]["dataset"] == name:
            return path
    raise FileNotFoundError(name)


def entries(cache: Cache, epochs: int) -> dict[str, Path]:
    """The benchmarked entries by name, built into `cache` where missing."""
    found = {}
    for dataset, model in [("shapes", "cnn2d"), ("mnist1d", "mnist1d_cnn")]:
        data, spec, _ = load_dataset(dataset, {}, cache)
        found[f"dataset {dataset}"] = dataset_entry(cache, dataset)
        trained = get_model(ModelSpec(model, train={"epochs": epochs}), data, spec, cache,
                            torch.device("cpu"))  # fmt: skip
        found[f"model {model} ({dataset})"] = cache.root / "models" / f"{trained.key}.pt"
    resnet = {"state_dict": torchvision.models.resnet18(num_classes=10).state_dict()}
    cache.save("bench", {"resnet18": "random"}, resnet)
    found["model resnet18 (random weights)"] = cache.path("bench", {"resnet18": "random"})
    return found


def measure(path: Path, repeats: int) -> dict:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    copy = path.with_name(f"copy-{path.name}")

    def plain_load() -> object:
        return torch.load(path, map_location="cpu", weights_only=True)

    def hash_only() -> str:
        with path.open("rb") as file:
            return sha256_of(file)

    load = best_time(plain_load, repeats)
    digest = best_time(hash_only, repeats)
    checked = best_time(lambda: read_entry(path), repeats)
    save = best_time(lambda: torch.save(obj, copy), repeats)
    checked_write = best_time(lambda: write_entry(copy, obj, {}), repeats)
    for file in (copy, copy.with_suffix(".json")):
        file.unlink()
    return {
        "MB": round(path.stat().st_size / 1e6, 2),
        "load ms": round(load * 1e3, 2),
        "sha256 ms": round(digest * 1e3, 2),
        "checked read ms": round(checked * 1e3, 2),
        "sha256 / load": round(digest / load, 2),
        "checked / plain read": round(checked / load, 2),
        "checked / plain write": round(checked_write / save, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = os.environ.get("XAIBENCH_CACHE") or tempfile.mkdtemp(prefix="xaibench-bench-cache-")
    rows = []
    for name, path in entries(Cache(root), args.epochs).items():
        rows.append({"entry": name, **measure(path, args.repeats)})
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, cache {root}")  # fmt: skip
    print(tabulate(rows, headers="keys", tablefmt="github"))


if __name__ == "__main__":
    main()
