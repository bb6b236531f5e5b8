"""The leaderboard as text: markdown and LaTeX (booktabs), one table per dataset x model.

Methods are rows and metrics columns; a cell is `mean [ci_low, ci_high] (rank)`. The best mean
of each metric is bold; marks flag methods not significantly different from the best (†) and
methods better than the best on the paired rank test although worse on average (‡).
"""

from __future__ import annotations

import math

import pandas as pd

from xaibench.report.leaderboard import GroupResult, failing_control
from xaibench.report.settings import ReportSettings
from xaibench.report.summary import control_sentence


def number(x: float, scale: float | None = None) -> str:
    """Three decimals for scores of ordinary size, three significant digits otherwise; `scale`
    (the largest magnitude in the column) keeps one format down a column."""
    if not math.isfinite(x):
        return "nan"
    scale = abs(x) if scale is None else scale
    return f"{x:.3f}" if abs(x) < 1000 and (scale >= 0.01 or x == 0) else f"{x:.3g}"


def p_value(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def interval_name(settings: ReportSettings, several_models: bool) -> str:
    if not several_models:
        return "BCa bootstrap over samples"
    if settings.across_models == "t":
        return "Student t over the per-model means"
    return "two-stage bootstrap, model seeds then samples"


def caption(
    group: GroupResult, settings: ReportSettings, marks: tuple[str, str] = ("†", "‡")
) -> str:
    samples = group.table["n"].max() // max(1, len(group.models))
    seeds = ", ".join(map(str, group.seeds))
    interval = interval_name(settings, several_models=len(group.models) > 1)
    return (
        f"{len(group.models)} trained model(s) (seeds {seeds}), about {samples} test samples "
        f"each. Cells: mean [{settings.confidence:.0%} CI: {interval}] "
        f"(rank). Bold: best mean; {marks[0]}: not significantly different from it; {marks[1]}: "
        f"significantly better than it on the paired rank test although worse on average "
        f"(two-sided Wilcoxon signed-rank, Holm-corrected, alpha = {settings.alpha})."
    )


def controls_sentence(group: GroupResult, settings: ReportSettings) -> str:
    return control_sentence(failing_control(group), settings.control, settings.alpha)


def cells(group: GroupResult, bold: tuple[str, str], tie: str, ranks_better: str) -> pd.DataFrame:
    """Methods x metrics formatted cells, plus the mean rank column and a Friedman row."""
    table = group.table
    scale = table.groupby("metric")["mean"].transform(lambda m: m.abs().max())
    text = []
    for (_, r), s in zip(table.iterrows(), scale, strict=True):
        mean = number(r["mean"], s)
        text.append(
            (bold[0] + mean + bold[1] if r["best"] else mean)
            + (tie if r["tied_with_best"] else "")
            + (ranks_better if r["beats_best_on_ranks"] else "")
            + f" [{number(r['ci_low'], s)}, {number(r['ci_high'], s)}] ({_rank(r['rank'])})"
        )
    grid = table.assign(cell=text).pivot(index="method", columns="metric", values="cell")
    metrics = list(group.tests)
    grid = grid.reindex(index=list(table["method"].unique()), columns=metrics)
    ranks = table.drop_duplicates("method").set_index("method")["mean_rank"]
    grid["mean rank"] = ranks.map(lambda r: f"{r:.2f}")
    friedman = {m: p_value(t.friedman_p) for m, t in group.tests.items()}
    grid.loc["Friedman p"] = {**friedman, "mean rank": ""}
    return grid.fillna("")


def _rank(rank: float) -> str:
    return str(int(rank)) if math.isfinite(rank) else "-"


def headers(group: GroupResult, up: str, down: str, escape=str) -> list[str]:
    direction = group.table.drop_duplicates("metric").set_index("metric")["higher_is_better"]
    return [f"{escape(m)} {up if direction[m] else down}" for m in group.tests] + ["mean rank"]


def group_markdown(group: GroupResult, settings: ReportSettings) -> str:
    grid = cells(group, bold=("**", "**"), tie="†", ranks_better="‡")
    grid.columns = headers(group, "↑", "↓")
    grid.index.name = "method"
    return "\n".join(
        [
            f"## {group.title}",
            "",
            caption(group, settings),
            "",
            grid.to_markdown(),
            "",
            controls_sentence(group, settings),
        ]
    )


def leaderboard_markdown(groups: list[GroupResult], settings: ReportSettings) -> str:
    return "# Leaderboard\n\n" + "\n\n".join(group_markdown(g, settings) for g in groups) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
}  # fmt: skip


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def group_latex(group: GroupResult, settings: ReportSettings) -> str:
    grid = cells(
        group, bold=(r"\textbf{", "}"), tie=r"\textsuperscript{\dag}",
        ranks_better=r"\textsuperscript{\ddag}",
    )  # fmt: skip
    head = headers(group, r"$\uparrow$", r"$\downarrow$", escape=latex_escape)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + latex_escape(group.title) + ": "
        + latex_escape(caption(group, settings, marks=("TIEMARK", "RANKMARK")))
            .replace("TIEMARK", r"\dag{}").replace("RANKMARK", r"\ddag{}") + " "
        + latex_escape(controls_sentence(group, settings).replace("`", "")) + "}",
        r"\begin{tabular}{l" + "c" * len(head) + "}",
        r"\toprule",
        " & ".join(["method", *head]) + r" \\",
        r"\midrule",
    ]  # fmt: skip
    for method, row in grid.iterrows():
        if method == "Friedman p":
            lines.append(r"\midrule")
        cells_ = [c.replace("< ", "$<$ ") for c in row]
        lines.append(" & ".join([latex_escape(str(method)), *cells_]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def leaderboard_latex(groups: list[GroupResult], settings: ReportSettings) -> str:
    """Tables for a paper; needs `\\usepackage{booktabs}`."""
    preamble = "% xaibench leaderboard; needs \\usepackage{booktabs}\n"
    return preamble + "\n\n".join(group_latex(g, settings) for g in groups) + "\n"
