"""How a report computes its statistics; recorded in every report (settings.json, report.html).

Kept free of heavy imports so the command line can show its defaults quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 9999
CONTROL = "random"  # the control method every real method must beat
ACROSS_MODELS = ("t", "bootstrap")  # intervals over several model seeds (stats.mean_intervals)


@dataclass(frozen=True)
class ReportSettings:
    """How a report computes its statistics: the command line's `--confidence`, `--resamples`,
    `--seed`, `--alpha`, `--control` and `--across-models`."""

    confidence: float = CONFIDENCE  # of the bootstrap intervals
    resamples: int = RESAMPLES  # bootstrap resamples
    seed: int = 0  # bootstrap seed: the same runs and settings give the same report
    alpha: float = ALPHA  # significance level of every test
    control: str = CONTROL
    across_models: str = "t"  # t interval over model means, or the two-stage bootstrap
