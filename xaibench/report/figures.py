"""Figures of a leaderboard group, each saved as PNG (for the HTML page) and PDF (for papers).

Made with matplotlib's object API like the single-run plots (no backend is chosen). PDFs carry
no creation date, so a report is byte-for-byte reproducible.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scikit_posthocs import critical_difference_diagram

from xaibench.files import atomic_write
from xaibench.report.leaderboard import GroupResult, registered_metrics
from xaibench.report.load import Runs
from xaibench.report.plots import plot_curves
from xaibench.report.settings import ReportSettings

FORMATS = ("png", "pdf")


def save_figure(fig: Figure, stem: Path) -> Path:
    """Write stem.png and stem.pdf; returns the PNG."""
    for fmt in FORMATS:
        metadata = {"CreationDate": None} if fmt == "pdf" else {}
        atomic_write(
            stem.with_suffix(f".{fmt}"),
            functools.partial(fig.savefig, format=fmt, dpi=130, metadata=metadata),
        )
    return stem.with_suffix(".png")


@contextmanager
def fixed_pdf_date() -> Iterator[None]:
    """matplotlib dates PDFs from SOURCE_DATE_EPOCH when it is set (the reproducible-builds
    convention); the shared curve plots save without metadata, so fix the date around them."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = before or "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]


def method_colors(methods: list[str]) -> dict[str, str]:
    """One colour per method, the same in every figure of the group."""
    palette = [f"C{i}" for i in range(10)]
    return {m: palette[i % len(palette)] for i, m in enumerate(methods)}


def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def plot_bars(group: GroupResult, settings: ReportSettings, stem: Path) -> Path:
    """One panel per metric: each method's mean with its confidence interval as error bar."""
    table = group.table
    metrics = list(group.tests)
    methods = list(table["method"].unique())
    colors = method_colors(methods)
    fig = Figure(figsize=(3.2 * len(metrics), 0.45 * len(methods) + 1.4))
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        rows = table[table["metric"] == metric].set_index("method").reindex(methods)
        y = np.arange(len(methods))
        error = np.abs(rows[["ci_low", "ci_high"]].to_numpy().T - rows["mean"].to_numpy())
        ax.barh(y, rows["mean"], xerr=error, color=[colors[m] for m in methods], capsize=3)
        ax.set_yticks(y, methods)
        ax.invert_yaxis()
        ax.set_title(f"{metric} {arrow(rows['higher_is_better'].iloc[0])}", fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{group.title}: mean, {settings.confidence:.0%} CI", fontsize="medium")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_critical_difference(
    group: GroupResult, settings: ReportSettings, stem: Path
) -> Path | None:
    """Per metric, mean ranks within (model, sample) blocks (1 = best, left); a crossbar joins
    methods that are not significantly different (Wilcoxon signed-rank, Holm)."""
    metrics = [m for m, t in group.tests.items() if t.blocks and t.block_ranks.notna().all()]
    if not metrics:
        return None
    colors = method_colors(list(group.table["method"].unique()))
    fig = Figure(figsize=(7, 1.7 * len(metrics)))
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics, strict=True):
        tests = group.tests[metric]
        drawn = critical_difference_diagram(
            tests.block_ranks, tests.pairwise, alpha=settings.alpha, ax=ax,
            label_props={"fontsize": "small"}, color_palette=colors,
        )  # fmt: skip
        for [line] in drawn["crossbars"]:  # drawn in set order, which varies between processes
            line.set_xdata(sorted(line.get_xdata()))
        p = tests.friedman_p
        friedman = "n/a" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")
        ax.set_title(f"{metric}: Friedman p {friedman}", fontsize="medium", pad=18)
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_rank_heatmap(group: GroupResult, stem: Path) -> Path:
    """Methods x metrics ranks (1 = best), with each method's mean rank in the last column."""
    table = group.table
    methods = list(table["method"].unique())
    grid = table.pivot(index="method", columns="metric", values="rank").reindex(methods)
    grid = grid[list(group.tests)]
    grid["mean rank"] = table.drop_duplicates("method").set_index("method")["mean_rank"]
    fig = Figure(figsize=(1.1 * grid.shape[1] + 2.2, 0.45 * len(methods) + 1.3))
    ax = fig.subplots()
    image = ax.imshow(grid.to_numpy(float), cmap="viridis_r", vmin=1, vmax=len(methods))
    for (i, j), value in np.ndenumerate(grid.to_numpy(float)):
        shade = "black" if value < (1 + len(methods)) / 2 else "white"  # readable on the colour
        ax.text(j, i, f"{value:.3g}", ha="center", va="center", color=shade, fontsize="small")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    ax.set_title("rank (1 = best)", fontsize="medium")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_agreement(tau: pd.DataFrame, stem: Path, title: str) -> Path:
    """Kendall's tau between metrics' method rankings: 1 agree, -1 opposite."""
    fig = Figure(figsize=(1.0 * tau.shape[1] + 2.4, 0.8 * tau.shape[0] + 1.4))
    ax = fig.subplots()
    image = ax.imshow(tau.to_numpy(float), cmap="RdBu", vmin=-1, vmax=1)
    for (i, j), value in np.ndenumerate(tau.to_numpy(float)):
        shade = "white" if abs(value) > 0.6 else "black"  # readable on the colour
        text = "nan" if np.isnan(value) else f"{value:.2f}"
        ax.text(j, i, text, ha="center", va="center", color=shade)
    ax.set_xticks(range(tau.shape[1]), tau.columns, rotation=30, ha="right")
    ax.set_yticks(range(tau.shape[0]), tau.index)
    ax.set_title(title, fontsize="medium")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_group_curves(group: GroupResult, runs: Runs, folder: Path) -> dict[str, Path]:
    """Mean curve per method over every (model, sample), 95% band: deletion, insertion,
    sensitivity-n, ... (the single-run plot, fed with the whole group)."""
    if not len(runs.curves):
        return {}
    curves = runs.curves[
        (runs.curves["dataset"] == group.dataset) & (runs.curves["model"] == group.model)
    ]
    registered = registered_metrics(runs)
    paths = {}
    for metric in curves["metric"].unique():
        info, params = registered.get(metric, (None, {}))
        if info is None or info.curve_x_label is None:
            continue
        x_label, y_label = info.curve_labels(params)
        labels = {"x_label": x_label, "y_label": y_label}
        with fixed_pdf_date():
            for fmt in FORMATS:
                path = plot_curves(
                    curves, metric, **labels, higher_is_better=info.higher_is_better,
                    path=folder / f"curves_{metric}.{fmt}",
                )  # fmt: skip
        paths[f"curves_{metric}"] = path.with_suffix(".png")
    return paths


def copy_galleries(group: GroupResult, runs: Runs, folder: Path) -> dict[str, Path]:
    """The attribution galleries the runs drew (the report has no attributions to redraw them):
    the first run of each model of the group."""
    in_group = runs.scores[
        (runs.scores["dataset"] == group.dataset) & (runs.scores["model"] == group.model)
    ]
    first_runs = in_group.drop_duplicates("model_key")[["model_key", "seed", "run_folder"]]
    paths = {}
    for _, _key, seed, run_folder in first_runs.itertuples():
        source = Path(run_folder) / "plots" / "gallery.png"
        if source.exists():
            target = folder / f"gallery_seed{seed}.png"
            atomic_write(target, functools.partial(shutil.copyfile, source))
            paths[f"gallery (seed {seed}, {run_folder})"] = target
    return paths


def group_figures(group: GroupResult, runs: Runs, settings: ReportSettings, folder: Path) -> dict:
    """Every figure of one group: name -> PNG path (a PDF lies beside each drawn figure)."""
    figures = {
        "bars": plot_bars(group, settings, folder / "bars"),
        "critical_difference": plot_critical_difference(
            group, settings, folder / "critical_difference"
        ),
        "ranks": plot_rank_heatmap(group, folder / "ranks"),
        **plot_group_curves(group, runs, folder),
    }
    if len(group.agreement) > 1:
        figures["agreement"] = plot_agreement(
            group.agreement, folder / "agreement", "Kendall's tau of method rankings"
        )
    figures.update(copy_galleries(group, runs, folder))
    return {name: path for name, path in figures.items() if path is not None}
