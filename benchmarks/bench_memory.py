"""Peak memory of a run against the number of explained inputs and `batch_size`.

    python benchmarks/bench_memory.py                                # 500 and 5000 inputs, 4096
    python benchmarks/bench_memory.py --batch-sizes 4096 256 --cache /tmp/memcache

Each (inputs, batch_size) is one run in a fresh subprocess, as `python -m xaibench` runs it
(`xaibench.run.run`, then `write_run` into a temporary folder): MNIST-1D generated with 10000
signals split 5000 / 5000 (`dataset.num_samples=10000 dataset.train_split=0.5`, so that 5000
test inputs exist), its CNN, the methods saliency, integrated_gradients, gradcam and random,
the metrics deletion, insertion, sensitivity_n, faithfulness_correlation, max_sensitivity and
sparseness with their defaults, `reuse=false` (maps and scores computed, not loaded), one
thread unless `--threads` says otherwise. Printed per run, in MiB:

- `peak`: the process's peak resident set size (ru_maxrss);
- `baseline`: the resident set after importing torch and xaibench and loading the data and
  the model, before any method runs; `peak - baseline` is what the run itself adds;
- `before tables`: the peak up to the end of scoring (methods and metrics), minus baseline;
- `maps`: every method's maps (methods x inputs x channels x length x 4 bytes) and `values`:
  the scores and curve points as numbers (8 bytes each), what a run has to keep;
- `tables`: the scores and curves tables in memory: their columns' arrays, and each distinct
  object (string) their object columns hold, counted once (every row carries the run's
  settings, one shared string per column).

The first run into an empty cache generates the data and trains the model (about 15 s); a
run of 5000 inputs takes about 10 minutes on one core, one of 500 about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = "[saliency,integrated_gradients,gradcam,random]"
METRICS = "[deletion,insertion,sensitivity_n,faithfulness_correlation,max_sensitivity,sparseness]"
DATASET = ["dataset.num_samples=10000", "dataset.train_split=0.5"]
MIB = 2**20


def overrides(inputs: int, batch_size: int, threads: int, cache: str | None) -> list[str]:
    return [
        *DATASET, f"samples={inputs}", f"batch_size={batch_size}", f"threads={threads}",
        f"method={METHODS}", f"metric={METRICS}", "reuse=false", "progress=false",
        *([f"cache_dir={cache}"] if cache else []),
    ]  # fmt: skip


def resident() -> float:
    """The process's resident set now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def peak() -> float:
    """The process's peak resident set so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


def table_bytes(table) -> int:
    """A table's bytes in memory: its columns' arrays, plus each distinct object its object
    columns point to, once (pandas' deep count would count a string shared by every row once
    per row)."""
    objects = {}
    for name in table.select_dtypes(include="object").columns:
        for value in table[name]:
            objects[id(value)] = value
    shallow = int(table.memory_usage(index=True, deep=False).sum())
    return shallow + sum(sys.getsizeof(value) for value in objects.values())


def child(inputs: int, batch_size: int, threads: int, cache: str | None) -> dict:
    """One run in this process; what `main` prints for it."""
    import torch
    from hydra import compose, initialize_config_dir

    import xaibench.run as run_module
    from xaibench.data import load_dataset
    from xaibench.models import get_model
    from xaibench.runfolder import write_run
    from xaibench.settings import CONF_DIR, read_settings

    torch.set_num_threads(threads)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides(inputs, batch_size, threads, cache))
    settings = read_settings(cfg)
    # Data and model loaded (built into the cache on first use) as the run will load them.
    data, spec, _ = load_dataset(settings.dataset, settings.dataset_params, settings.cache)
    get_model(settings.model, data, spec, settings.cache, settings.device, False,
              settings.batch_size)  # fmt: skip
    baseline = resident()
    scored = {}
    tables = run_module.run_tables

    def timed_tables(*args, **kwargs):
        scored["peak"] = peak()  # everything up to here: methods and metrics
        return tables(*args, **kwargs)

    run_module.run_tables = timed_tables
    started = time.perf_counter()
    result = run_module.run(cfg)
    with tempfile.TemporaryDirectory() as folder:
        write_run(Path(folder), result)
    seconds = time.perf_counter() - started
    maps = sum(m.numel() * m.element_size() for m in result.attributions.values())
    values = 8 * (len(result.scores) + len(result.curves))
    in_memory = sum(table_bytes(t) for t in (result.scores, result.curves))
    return {
        "inputs": inputs,
        "batch_size": batch_size,
        "peak": peak(),
        "baseline": baseline,
        "peak - baseline": peak() - baseline,
        "before tables": scored["peak"] - baseline,
        "maps": maps / MIB,
        "values": values / MIB,
        "tables": in_memory / MIB,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4096])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", default=None, help="cache_dir (default: the run's default)")
    parser.add_argument("--child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.threads, args.cache)))
        return
    from tabulate import tabulate

    rows = []
    for batch_size in args.batch_sizes:
        for inputs in args.sizes:
            command = [sys.executable, __file__, "--child", str(inputs), str(batch_size),
                       "--threads", str(args.threads),
                       *(["--cache", args.cache] if args.cache else [])]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
            if done.returncode != 0:
                sys.exit(f"run of {inputs} inputs, batch_size {batch_size} failed:\n{done.stderr}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{inputs} inputs, batch_size {batch_size}: done", file=sys.stderr)
    print(tabulate(rows, headers="keys", tablefmt="pipe", floatfmt=".1f"))


if __name__ == "__main__":
    main()
