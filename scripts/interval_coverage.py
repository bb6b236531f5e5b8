"""Measure how often the report's 95% intervals cover the true mean, in simulation.

    python scripts/interval_coverage.py [--trials 200]

Each simulated data set has `models` trained models (model seeds); model u's scores are
N(offset_u, 0.2) on 100 samples, offset_u ~ N(0, between). The true mean is 0. One model uses
the BCa interval over samples (both columns); several use the t interval over model means or
the two-stage bootstrap (models, then samples).
Prints a markdown table; the README quotes it.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from xaibench.report.settings import ACROSS_MODELS
from xaibench.report.stats import BLOCK, mean_intervals

CASES = [(1, 0.0), (3, 0.0), (3, 0.05), (3, 0.2), (10, 0.05), (10, 0.2)]  # (models, between)


def covered(rng: np.random.Generator, models: int, between: float, seed: int, across: str) -> bool:
    values = np.concatenate([rng.normal(rng.normal(0, between), 0.2, 100) for _ in range(models)])
    index = pd.MultiIndex.from_tuples(
        [(f"model{u}", s) for u in range(models) for s in range(100)], names=BLOCK
    )
    frame = pd.DataFrame({"m": values}, index=index)
    ci = mean_intervals(frame, resamples=999, seed=seed, across_models=across)
    return bool(ci.loc["m", "ci_low"] <= 0 <= ci.loc["m", "ci_high"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    trials = parser.parse_args().trials
    print("| models | between-model s.d. | t interval (default) | two-stage bootstrap |")
    print("|---:|---:|---:|---:|")
    for models, between in CASES:
        rates = []
        for across in ACROSS_MODELS:
            rng = np.random.default_rng(0)
            hits = [covered(rng, models, between, seed, across) for seed in range(trials)]
            rates.append(f"{np.mean(hits):.1%}")
        print(f"| {models} | {between} | {' | '.join(rates)} |")


if __name__ == "__main__":
    main()
