"""How far apart are epsilon-LRP, DeepLIFT (rescale) and gradient x input on the trained CNN?

    XAIBENCH_CACHE=... python scripts/equivalence_gap.py [--seeds 0 1 2] [--out FILE.csv]

Ancona et al. 2018 prove the three coincide on ReLU networks with a zero baseline (DeepLIFT
only without biases); tests/methods/test_ancona_equivalence.py checks that on small nets. This
measures the gap on the `sensitivity_n` study's model and maps: it runs the study's config for each
model seed (served from the cache after the study ran) and prints, per pair, the per-sample
relative difference max|a - b| / max|b| (xaibench.metrics.similarity.relative_difference):
median, 95th percentile and max over the explained samples.
"""

from __future__ import annotations

import argparse

import pandas as pd
from hydra import compose, initialize_config_dir

from xaibench.metrics.similarity import relative_difference
from xaibench.run import run
from xaibench.settings import CONF_DIR

PAIRS = [("lrp", "input_x_gradient"), ("deeplift", "input_x_gradient"), ("deeplift", "lrp")]


def gaps(seed: int) -> pd.DataFrame:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", ["experiment=sensitivity_n", f"seed={seed}", "progress=false"])
    maps = run(cfg).attributions
    rows = []
    for a, b in PAIRS:
        gap = relative_difference(maps[a], maps[b]).cpu().double()
        rows.append({
            "seed": seed, "map": a, "reference": b, "samples": len(gap),
            "median": gap.median().item(), "p95": gap.quantile(0.95).item(),
            "max": gap.max().item(),
        })  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", help="also write the table as CSV here")
    args = parser.parse_args()
    table = pd.concat([gaps(seed) for seed in args.seeds], ignore_index=True)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
