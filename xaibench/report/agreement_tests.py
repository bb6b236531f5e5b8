"""How sure is the agreement between two metrics' method rankings? Kendall's tau with a test
and a bootstrap interval over samples.

The leaderboard's tau (stats.kendall_agreement) ranks methods by their mean score; those means
carry the samples' noise, so two metrics can disagree by chance. This module adds, for every
pair of metrics of a group, scipy's test of tau = 0 over the methods and a percentile interval
from resampling the test samples (the same samples for every metric and method, within each
model seed, as the leaderboard's means are means over models of per-model means).
scipy has no bootstrap of a statistic of a whole score table, hence the resampling here.
The interval is a plain percentile interval of a rank statistic: methods whose means nearly tie
swap places between resamples, which pulls the resampled tau towards 0, so the interval can lie
beside the point estimate; it shows how far sampling noise moves the agreement.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from xaibench.report.load import BLOCK, UNIT
from xaibench.report.settings import ReportSettings

AGREEMENT_TEST_COLUMNS = [
    "dataset",
    "model",
    "metric_a",
    "metric_b",
    "category_a",
    "category_b",
    "methods",  # methods ranked by both metrics
    "kendall_tau",  # tau-b of the two rankings by mean (as metric_agreement.csv)
    "p_value",  # scipy's two-sided test of tau = 0, methods as the sample (no correction)
    "ci_low",  # percentile bootstrap interval of tau, test samples resampled
    "ci_high",
]


def tau_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the last axes of a and b (broadcast over leading axes).

    With s = sign of every pair's difference: tau-b = sum(s_a s_b) / sqrt(sum|s_a| sum|s_b|),
    i.e. concordant minus discordant pairs over the geometric mean of the untied pairs of each
    ranking (Kendall 1945). NaN where a ranking is all ties.
    """
    upper = np.triu_indices(a.shape[-1], k=1)
    sign_a = np.sign(a[..., :, None] - a[..., None, :])[..., upper[0], upper[1]]
    sign_b = np.sign(b[..., :, None] - b[..., None, :])[..., upper[0], upper[1]]
    untied = np.sqrt(np.abs(sign_a).sum(-1) * np.abs(sign_b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(untied > 0, (sign_a * sign_b).sum(-1) / untied, np.nan)


def bootstrap_means(
    values: np.ndarray, units: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(resamples, columns) mean over units of each unit's nan-mean over its rows, the rows
    of every unit drawn with replacement (the same draw for every column: paired)."""
    per_unit = []
    for unit in pd.unique(units):  # in the order given, which decides the draws
        rows = values[units == unit]
        counts = np.zeros((resamples, len(rows)))
        draws = rng.integers(len(rows), size=(resamples, len(rows)))
        np.add.at(counts, (np.arange(resamples)[:, None], draws), 1)
        finite = np.isfinite(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_unit.append((counts @ np.where(finite, rows, 0)) / (counts @ finite))
    with warnings.catch_warnings():  # a column without finite scores stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_unit, axis=0)


def agreement_tests(
    scores: pd.DataFrame, categories: dict[str, str], settings: ReportSettings
) -> pd.DataFrame:
    """AGREEMENT_TEST_COLUMNS for every pair of metrics of one dataset x model group.

    `scores` is the group's score rows (report.load schema). Methods without a finite mean for
    either metric of a pair are left out of that pair, as in the leaderboard's tau.
    """
    metrics = list(scores["metric"].unique())
    signed = []  # per metric: blocks x methods, turned so that higher is better
    for metric in metrics:
        part = scores[scores["metric"] == metric]
        matrix = part.pivot_table(index=BLOCK, columns="method", values="value", dropna=False)
        signed.append(matrix if part["higher_is_better"].iloc[0] else -matrix)
    # Blocks x (metric, method), models in the order the runs hold them (not by their cache keys,
    # which are hashes: a bootstrap must not change when a key does), samples ascending.
    appearance = {unit: i for i, unit in enumerate(pd.unique(scores[UNIT]))}
    table = pd.concat(signed, axis=1, keys=metrics).sort_index(
        key=lambda level: level.map(appearance) if level.name == UNIT else level
    )
    methods = list(scores["method"].unique())
    table = table.reindex(columns=pd.MultiIndex.from_product([metrics, methods]))
    values = table.to_numpy(float)
    units = table.index.get_level_values(UNIT).to_numpy()
    rng = np.random.default_rng(settings.seed)
    draws = bootstrap_means(values, units, settings.resamples, rng).reshape(
        settings.resamples, len(metrics), len(methods)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(
            [np.nanmean(values[units == u], axis=0) for u in pd.unique(units)], axis=0
        ).reshape(len(metrics), len(methods))
    tail = 100 * (1 - settings.confidence) / 2
    rows = []
    for i, a in enumerate(metrics):
        for j in range(i + 1, len(metrics)):
            both = np.isfinite(means[i]) & np.isfinite(means[j])
            tau, p = np.nan, np.nan
            low = high = np.nan
            if both.sum() > 1:
                tau, p = stats.kendalltau(means[i, both], means[j, both])
                spread = tau_b(draws[:, i, both], draws[:, j, both])
                if np.isfinite(spread).any():
                    low, high = np.nanpercentile(spread, [tail, 100 - tail])
            rows.append(
                {"metric_a": a, "metric_b": metrics[j], "category_a": categories.get(a),
                 "category_b": categories.get(metrics[j]), "methods": int(both.sum()),
                 "kendall_tau": tau, "p_value": p, "ci_low": low, "ci_high": high}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=AGREEMENT_TEST_COLUMNS[2:])


def cross_category_markdown(
    tested: pd.DataFrame, rows: str = "faithfulness", columns: str = "localisation"
) -> str:
    """Markdown: per group, `rows` metrics x `columns` metrics, each cell tau [interval];
    bold where the interval excludes 0. Made for the question "which faithfulness metrics rank
    methods as the ground-truth masks do?"; says so when a group lacks either category."""
    text = [f"# Agreement of {rows} metrics with {columns} metrics\n"]
    text.append(
        "Kendall's tau-b between the two metrics' method rankings (by mean, direction-aware) "
        "[percentile bootstrap interval, test samples resampled]; **bold**: the interval "
        "excludes 0.\n"
    )
    for (dataset, model), group in tested.groupby(["dataset", "model"], sort=False):
        flipped = group.rename(
            columns={"metric_a": "metric_b", "metric_b": "metric_a",
                     "category_a": "category_b", "category_b": "category_a"}
        )  # fmt: skip
        pairs = pd.concat([group, flipped], ignore_index=True)
        pairs = pairs[(pairs["category_a"] == rows) & (pairs["category_b"] == columns)]
        text.append(f"## {dataset} / {model}\n")
        if pairs.empty:
            text.append(f"No pair of a {rows} and a {columns} metric.\n")
            continue
        values = pairs[["kendall_tau", "ci_low", "ci_high"]].to_numpy()
        cells = pairs.assign(cell=[cell(*row) for row in values])
        order = dict.fromkeys(group["metric_a"]) | dict.fromkeys(group["metric_b"])
        table = cells.pivot(index="metric_a", columns="metric_b", values="cell")
        table = table.loc[[m for m in order if m in table.index], [m for m in order if m in table]]
        text.append(table.rename_axis(index=f"{rows} \\ {columns}", columns=None).to_markdown())
        text.append("")
    return "\n".join(text) + "\n"


def cell(tau: float, low: float, high: float) -> str:
    if not np.isfinite(tau):
        return "n/a"
    text = f"{tau:.2f} [{low:.2f}, {high:.2f}]"
    return f"**{text}**" if low > 0 or high < 0 else text
