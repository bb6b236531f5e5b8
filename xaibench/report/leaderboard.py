"""The leaderboard: per dataset x model, per method x metric, the mean with its interval, ranks
and significance, plus the tests and the agreement between metrics that stand behind it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

from xaibench.metrics import METRICS
from xaibench.metrics.registry import MetricInfo
from xaibench.report import stats
from xaibench.report.load import GROUP, UNIT, Runs
from xaibench.report.settings import ReportSettings

LEADERBOARD_COLUMNS = [
    "dataset",
    "model",
    "metric",
    "category",  # the metric's registered category (faithfulness, localisation, ...)
    "higher_is_better",
    "method",
    "mean",  # mean over models of each model's mean over its samples
    "ci_low",  # confidence interval of the mean (see stats.mean_intervals)
    "ci_high",
    "n",  # finite scores (samples x models)
    "n_nan",  # undefined scores, left out
    "models",  # trained models (model seeds) the row covers
    "rank",  # 1 = best mean for the metric, direction-aware (ties share the lower rank)
    "mean_rank",  # the method's rank averaged over the group's metrics
    "block_rank",  # rank within each (model, sample) block, averaged: Friedman's mean rank
    "best",  # rank 1
    "tied_with_best",  # not best, and not significantly different from the best method
    "beats_best_on_ranks",  # significantly different from the best, in this method's favour:
    # the paired rank test and the means disagree (e.g. better on most samples, worse on average)
    "p_vs_best",  # Holm-adjusted two-sided Wilcoxon p-value against the best method
    "beats_control",  # significantly better than the control (one-sided Wilcoxon, Holm)
    "p_vs_control",
    "friedman_chi2",  # Friedman's test across all methods of the metric
    "friedman_p",
]


@dataclass(frozen=True)
class MetricTests:
    """The tests behind one metric's leaderboard rows.

    Attributes:
        friedman_chi2: Friedman's statistic across all methods.
        friedman_p: Its p-value.
        pairwise: Methods x methods, Holm-adjusted Wilcoxon p-values.
        block_ranks: Friedman's mean rank per method.
        blocks: The complete (model, sample) blocks the tests used.
    """

    friedman_chi2: float
    friedman_p: float
    pairwise: pd.DataFrame
    block_ranks: pd.Series
    blocks: int


@dataclass(frozen=True)
class GroupResult:
    """The leaderboard of one dataset x model: its table, its tests and the metrics' agreement.

    Attributes:
        dataset: The dataset's label.
        model: The model's label.
        table: One row per metric and method, with the columns `LEADERBOARD_COLUMNS`.
        tests: The tests behind the table, by metric.
        agreement: Metrics x metrics Kendall's tau between their rankings of the methods.
        models: The model keys (one per model seed).
        seeds: The model seeds.
    """

    dataset: str
    model: str
    table: pd.DataFrame
    tests: dict[str, MetricTests]
    agreement: pd.DataFrame
    models: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        """`dataset / model`, as headings show the group."""
        return f"{self.dataset} / {self.model}"

    def localisation_agreement(self) -> pd.DataFrame:
        """Faithfulness metrics (rows) x localisation metrics (columns) Kendall's tau: which
        faithfulness metrics rank methods as the ground-truth masks do. Empty without masks."""
        category = self.table.drop_duplicates("metric").set_index("metric")["category"]
        rows = [m for m in self.agreement.index if category[m] == "faithfulness"]
        columns = [m for m in self.agreement.columns if category[m] == "localisation"]
        return self.agreement.loc[rows, columns] if rows and columns else pd.DataFrame()


def registered_metrics(runs: Runs) -> dict[str, tuple[MetricInfo | None, dict]]:
    """Metric label -> (its registration, its settings), None for metrics this xaibench lacks.

    A label can be an alias (`uses:`) or a variant (`deletion[steps=10]`); the registered
    name comes from the settings' `uses` or meta.json's label -> name map.
    """
    names: dict[str, str] = {}
    for meta in runs.metas.values():
        names.update(meta.get("metric_names", {}))
    found = {}
    pairs = runs.scores[["metric", "metric_params"]].drop_duplicates()
    for label, raw in pairs.itertuples(index=False):
        params = json.loads(raw)
        base = label.split("[")[0]
        name = params.pop("uses", None) or names.get(base, base)
        found[label] = (METRICS[name] if name in METRICS else None, params)  # noqa: SIM401
    return found


def metric_categories(runs: Runs) -> dict[str, str]:
    """Metric label -> its registered category, or the category a run's meta.json gives for a
    metric that is not registered (ROAR), else "unknown"."""
    declared: dict[str, str] = {}
    for meta in runs.metas.values():
        declared.update(meta.get("metric_categories", {}))
    return {
        label: info.category if info else declared.get(label.split("[")[0], "unknown")
        for label, (info, _) in registered_metrics(runs).items()
    }


def build_leaderboard(runs: Runs, settings: ReportSettings | None = None) -> list[GroupResult]:
    """One result per dataset x model found in the runs, in the order they appear."""
    settings = settings or ReportSettings()
    categories = metric_categories(runs)
    return [
        group_result(cast(tuple[str, str], key), scores, categories, settings)
        for key, scores in runs.scores.groupby(GROUP, sort=False)
    ]


def group_result(
    key: tuple[str, str], scores: pd.DataFrame, categories: dict[str, str], settings: ReportSettings
) -> GroupResult:
    """The leaderboard of one (dataset, model) `key` from its `scores` (one row per score)."""
    rows, tests = [], {}
    for value, part in scores.groupby("metric", sort=False):
        metric = cast(str, value)  # a label; pandas-stubs types group keys as any scalar
        higher = bool(part["higher_is_better"].iloc[0])
        matrix = stats.block_matrix(part)[list(part["method"].unique())]
        table, tests[metric] = metric_rows(matrix, higher, settings)
        rows.append(table.assign(metric=metric, category=categories.get(metric, "unknown")))
    table = pd.concat(rows, ignore_index=True).assign(dataset=key[0], model=key[1])
    table["mean_rank"] = table.groupby("method", sort=False)["rank"].transform("mean")
    signed = table.assign(signed=table["mean"].where(table["higher_is_better"], -table["mean"]))
    agreement = stats.kendall_agreement(
        signed.pivot(index="method", columns="metric", values="signed")[list(tests)]
    )
    return GroupResult(
        dataset=key[0],
        model=key[1],
        table=table[LEADERBOARD_COLUMNS],
        tests=tests,
        agreement=agreement,
        models=list(scores[UNIT].unique()),
        seeds=sorted(int(s) for s in scores["seed"].unique()),
    )


def metric_rows(
    matrix: pd.DataFrame, higher_is_better: bool, settings: ReportSettings
) -> tuple[pd.DataFrame, MetricTests]:
    """The leaderboard rows of one metric (one per method) and the tests behind them.

    Methods without a single finite score keep their row (NaN mean, no rank) but stay out of
    the tests, so that they neither tie with the best nor empty every block.
    """
    table = stats.mean_intervals(
        matrix, settings.confidence, settings.resamples, settings.seed, settings.across_models
    )
    finite = np.isfinite(matrix.to_numpy(float))
    table["n"] = finite.sum(axis=0)
    table["n_nan"] = (~finite).sum(axis=0)
    table["models"] = [
        matrix[m].dropna().index.get_level_values(UNIT).nunique() for m in matrix.columns
    ]
    table["higher_is_better"] = higher_is_better
    signed = table["mean"] if higher_is_better else -table["mean"]
    table["rank"] = signed.rank(ascending=False, method="min")
    table["best"] = table["rank"] == 1

    scored = matrix.loc[:, finite.any(axis=0)]
    pairwise = stats.pairwise_wilcoxon(scored)
    chi2, p = stats.friedman(scored)
    best = table["rank"].idxmin() if table["rank"].notna().any() else None
    table["p_vs_best"] = pairwise[best].where(~table["best"]) if best else np.nan
    table["tied_with_best"] = ~table["best"] & (table["p_vs_best"] >= settings.alpha)
    turned = stats.oriented(scored, higher_is_better)
    favours = pd.Series(
        {m: stats.signed_rank_sum(turned[m].to_numpy(float), turned[best].to_numpy(float)) > 0
         for m in scored.columns} if best else {},
        dtype=bool,
    ).reindex(table.index, fill_value=False)  # fmt: skip
    table["beats_best_on_ranks"] = ~table["best"] & (table["p_vs_best"] < settings.alpha) & favours
    table["p_vs_control"] = np.nan
    table["beats_control"] = pd.array([pd.NA] * len(table), dtype="boolean")
    if settings.control in scored.columns:
        table["p_vs_control"] = stats.versus_control(scored, settings.control, higher_is_better)
        beats = (table["p_vs_control"] < settings.alpha).astype("boolean")
        table["beats_control"] = beats.mask(table["p_vs_control"].isna())
    table["block_rank"] = stats.mean_block_ranks(scored, higher_is_better)
    table["friedman_chi2"], table["friedman_p"] = chi2, p
    blocks = len(stats.complete_blocks(scored))
    tests = MetricTests(chi2, p, pairwise, table["block_rank"].dropna(), blocks)
    return table.rename_axis("method").reset_index(), tests


def leaderboard_table(groups: list[GroupResult]) -> pd.DataFrame:
    """Every group's rows in one long table (LEADERBOARD_COLUMNS)."""
    return pd.concat([g.table for g in groups], ignore_index=True)


def failing_control(group: GroupResult) -> dict[str, list[str]]:
    """Metric -> methods that do not beat the control significantly (empty lists included)."""
    table = group.table[group.table["beats_control"].notna()]
    return {
        cast(str, metric): list(part.loc[~part["beats_control"].astype(bool), "method"])
        for metric, part in table.groupby("metric", sort=False)
    }
