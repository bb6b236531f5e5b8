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

    The x axis is logarithmic when the curve's x values are positive and span a decade or more;
    otherwise a few whole-number x values (layer counts) are the ticks.
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
    elif len(x) and np.all(x == np.round(x)) and x.nunique() <= 15:
        ax.set_xticks(np.unique(x))  # counts (layers, steps): no fractional ticks between them
    direction = "higher" if higher_is_better else "lower"
    ax.set(title=f"{metric} ({direction} is better)", xlabel=x_label, ylabel=y_label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save(fig, path)


MASK_COLOR = "lime"  # ground-truth outlines: visible on both colormaps and on greys


def plot_gallery(
    inputs: Tensor,
    attributions: dict[str, Tensor],
    labels: Tensor,
    targets: Tensor,
    path: Path,
    masks: Tensor | None = None,
) -> Path:
    """Rows: samples. Columns: the input, then each method's map (summed over channels).

    Signals are drawn as a line over the map; images as the picture, then the maps. Maps are
    scaled per sample for display only (never across the batch). A method whose maps have
    negative values gets a diverging colormap centred on zero, one with non-negative maps a
    sequential one. Where `masks` (the ground truth, (N, L) or (N, H, W)) is given, its outline
    is drawn on every panel.
    """
    methods = list(attributions)
    rows, cols = len(inputs), len(methods) + 1
    is_image = inputs.dim() == 4
    fig = Figure(figsize=(1.9 * cols, 1.9 * rows) if is_image else (2.4 * cols, 1.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    signed = {m: bool((attributions[m] < 0).any()) for m in methods}
    for r in range(rows):
        mask = None if masks is None else masks[r].cpu().numpy()
        draw = _draw_image_panel if is_image else _draw_signal_panel
        draw(axes[r, 0], inputs[r], None, False, mask)
        for c, method in enumerate(methods, start=1):
            draw(axes[r, c], inputs[r], attributions[method][r], signed[method], mask)
        axes[r, 0].set_ylabel(
            f"label {labels[r].item()}\ntarget {targets[r].item()}", fontsize="x-small"
        )
    for c, title in enumerate(["input", *methods]):
        axes[0, c].set_title(title, fontsize="small")
    fig.tight_layout()
    return save(fig, path)


def _display_map(attribution: Tensor, signed: bool) -> dict:
    """imshow arguments for one map: summed over channels, scaled to [-1, 1] or [0, 1]."""
    amap = attribution.sum(0).detach().cpu().numpy()
    scale = np.abs(amap).max() or 1.0
    return {
        "X": amap / scale,
        "cmap": "RdBu_r" if signed else "Reds",
        "vmin": -1 if signed else 0,
        "vmax": 1,
    }


def _draw_signal_panel(ax, signal: Tensor, attribution: Tensor | None, signed: bool, mask) -> None:
    line = signal.sum(0).detach().cpu().numpy()
    low, high = line.min(), line.max()
    pad = 0.1 * (high - low or 1.0)
    if attribution is not None:
        shown = _display_map(attribution, signed)
        shown["X"] = shown["X"][None, :]
        ax.imshow(**shown, aspect="auto", extent=(-0.5, len(line) - 0.5, low - pad, high + pad))
    ax.plot(line, color="black", linewidth=1)
    ax.set(xlim=(-0.5, len(line) - 0.5), ylim=(low - pad, high + pad), yticks=[])
    if mask is not None:
        for start, stop in _runs(mask):
            ax.axvspan(start - 0.5, stop - 0.5, fill=False, edgecolor=MASK_COLOR, linewidth=1.2)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of every run of True values in a 1D bool array, stop exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _draw_image_panel(ax, image: Tensor, attribution: Tensor | None, signed: bool, mask) -> None:
    if attribution is None:
        picture = image.detach().cpu().numpy()
        # Inputs are often standardised: stretch each image to [0, 1] for display only.
        picture = (picture - picture.min()) / (np.ptp(picture) or 1.0)
        if picture.shape[0] == 3:
            ax.imshow(picture.transpose(1, 2, 0))
        else:
            ax.imshow(picture.mean(0), cmap="gray")
    else:
        ax.imshow(**_display_map(attribution, signed))
    if mask is not None and mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=MASK_COLOR, linewidths=0.8)
    ax.set(xticks=[], yticks=[])
