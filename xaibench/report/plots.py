"""Plots of one run: metric curves per method, and a gallery of attribution maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter
from torch import Tensor

from xaibench.files import atomic_write

# Figures are made with matplotlib's object API (no pyplot): no backend is chosen or changed,
# so plotting works headless and leaves a notebook's backend alone.


def save(fig: Figure, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:], dpi=130))
    return path


def plot_curves(
    curves: pd.DataFrame,
    metric: str,
    *,
    x_label: str,
    y_label: str,
    higher_is_better: bool,
    path: Path,
) -> Path:
    """Mean curve per method over samples, with a 95% band (mean +- 1.96 standard errors).

    The x axis is logarithmic when the curve's x values are positive and span a decade or more.
    """
    data = curves[curves["metric"] == metric]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for method, group in data.groupby("method", sort=False):
        stats = group.groupby("x")["value"].agg(["mean", "sem"]).reset_index()
        band = 1.96 * stats["sem"].fillna(0)
        ax.plot(stats["x"], stats["mean"], label=method, marker="." if len(stats) < 15 else None)
        ax.fill_between(stats["x"], stats["mean"] - band, stats["mean"] + band, alpha=0.2)
    x = data["x"]
    if len(x) and x.min() > 0 and x.max() >= 10 * x.min():
        ax.set_xscale("log")
        ticks = np.unique(x)
        if len(ticks) <= 12:
            ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    direction = "higher" if higher_is_better else "lower"
    ax.set(title=f"{metric} ({direction} is better)", xlabel=x_label, ylabel=y_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save(fig, path)


def plot_signal_gallery(
    inputs: Tensor,
    attributions: dict[str, Tensor],
    labels: Tensor,
    targets: Tensor,
    path: Path,
) -> Path:
    """Rows: samples; columns: methods. Each panel draws the signal over its attribution map.

    Maps are scaled per sample for display only (never across the batch). Signed maps use a
    diverging colormap centred on zero; non-negative maps a sequential one.
    """
    methods = list(attributions)
    rows, cols = len(inputs), len(methods)
    fig = Figure(figsize=(2.4 * cols, 1.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    for r in range(rows):
        signal = inputs[r].sum(0).cpu().numpy()
        for c, method in enumerate(methods):
            ax = axes[r, c]
            amap = attributions[method][r].sum(0).cpu().numpy()
            signed = bool((amap < 0).any())
            scale = np.abs(amap).max() or 1.0
            low, high = signal.min(), signal.max()
            pad = 0.1 * (high - low or 1.0)
            ax.imshow(
                amap[None, :] / scale,
                aspect="auto",
                cmap="RdBu_r" if signed else "Reds",
                vmin=-1 if signed else 0,
                vmax=1,
                extent=(-0.5, len(amap) - 0.5, low - pad, high + pad),
            )
            ax.plot(signal, color="black", linewidth=1)
            ax.set_yticks([])
            if r == 0:
                ax.set_title(method, fontsize="small")
            if c == 0:
                ax.set_ylabel(
                    f"label {labels[r].item()}\ntarget {targets[r].item()}", fontsize="x-small"
                )
    fig.tight_layout()
    return save(fig, path)
