"""What one run computes, in memory: its tables, metadata and the explained inputs and maps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch


@dataclass
class RunResult:
    scores: pd.DataFrame  # SCORE_COLUMNS, one row per sample x method x metric
    curves: pd.DataFrame  # CURVE_COLUMNS, one row per sample x method x metric x curve point
    summary: pd.DataFrame  # SUMMARY_COLUMNS, one row per method x metric
    meta: dict  # meta.json
    inputs: torch.Tensor  # the explained inputs, their labels, targets and attributions,
    labels: torch.Tensor  # kept for plots
    targets: torch.Tensor
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: torch.Tensor | None = None  # ground truth of the explained inputs, where known
