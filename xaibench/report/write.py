"""Write a report folder: leaderboard tables, test results, figures and report.html."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from xaibench.files import atomic_write, atomic_write_text, write_parquet
from xaibench.report.agreement_tests import (
    AGREEMENT_TEST_COLUMNS,
    agreement_tests,
    cross_category_markdown,
)
from xaibench.report.figures import group_figures
from xaibench.report.html import report_html
from xaibench.report.leaderboard import (
    GroupResult,
    build_leaderboard,
    leaderboard_table,
    metric_categories,
)
from xaibench.report.load import GROUP, Runs, load_runs
from xaibench.report.settings import ReportSettings
from xaibench.report.tables import leaderboard_latex, leaderboard_markdown


def slug(text: str) -> str:
    """`text` as a file name: each run of characters other than A-Z, a-z, 0-9, `_.-` is a `-`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def pairwise_table(groups: list[GroupResult]) -> pd.DataFrame:
    """Long table of every pairwise test: dataset, model, metric, method_a, method_b, p_holm."""
    rows = [
        {"dataset": g.dataset, "model": g.model, "metric": metric, "method_a": a, "method_b": b,
         "p_holm": t.pairwise.loc[a, b]}
        for g in groups
        for metric, t in g.tests.items()
        for i, a in enumerate(t.pairwise.index)
        for b in t.pairwise.index[i + 1 :]
    ]  # fmt: skip
    return pd.DataFrame(rows)


def agreement_table(groups: list[GroupResult]) -> pd.DataFrame:
    """Long table of Kendall's tau between each pair of metrics, per group."""
    rows = [
        {"dataset": g.dataset, "model": g.model, "metric_a": a, "metric_b": b,
         "kendall_tau": g.agreement.loc[a, b]}
        for g in groups
        for i, a in enumerate(g.agreement.index)
        for b in g.agreement.index[i + 1 :]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["dataset", "model", "metric_a", "metric_b", "kendall_tau"])


def agreement_tests_table(runs: Runs, settings: ReportSettings) -> pd.DataFrame:
    """Every group's metric pairs with tau, its test and its bootstrap interval (long table)."""
    categories = metric_categories(runs)
    # The group keys are names; pandas-stubs types them as any Hashable.
    parts = [
        agreement_tests(scores, categories, settings).assign(dataset=key[0], model=key[1])  # type: ignore[arg-type]
        for key, scores in runs.scores.groupby(GROUP, sort=False)
    ]
    return pd.concat(parts, ignore_index=True)[AGREEMENT_TEST_COLUMNS]


def write_report(
    paths: list[str | Path], out: str | Path, settings: ReportSettings | None = None
) -> Path:
    """Read the runs under `paths`, write the report into `out`; returns report.html's path.

    Deterministic: the same runs and settings give byte-identical files.
    """
    settings = settings or ReportSettings()
    out = Path(out)
    runs = load_runs(paths)
    groups = build_leaderboard(runs, settings)
    table = leaderboard_table(groups)
    atomic_write(out / "leaderboard.csv", lambda tmp: table.to_csv(tmp, index=False))
    write_parquet(table, out / "leaderboard.parquet")
    atomic_write_text(out / "leaderboard.md", leaderboard_markdown(groups, settings))
    atomic_write_text(out / "leaderboard.tex", leaderboard_latex(groups, settings))
    pairwise = pairwise_table(groups)
    atomic_write(out / "pairwise_tests.csv", lambda tmp: pairwise.to_csv(tmp, index=False))
    agreement = agreement_table(groups)
    atomic_write(out / "metric_agreement.csv", lambda tmp: agreement.to_csv(tmp, index=False))
    tested = agreement_tests_table(runs, settings)
    atomic_write(out / "metric_agreement_tests.csv", lambda tmp: tested.to_csv(tmp, index=False))
    atomic_write_text(out / "localisation_agreement.md", cross_category_markdown(tested))
    atomic_write_text(
        out / "settings.json",
        json.dumps({**vars(settings), "runs": list(runs.metas)}, indent=2) + "\n",
    )
    figures = {
        g.title: group_figures(g, runs, settings, out / "figures" / slug(f"{g.dataset}_{g.model}"))
        for g in groups
    }
    return atomic_write_text(out / "report.html", report_html(groups, figures, runs, settings))
