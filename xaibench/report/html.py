"""report.html: one self-contained page (images embedded as base64, no network) holding the
leaderboard, tests, agreement, figures and the provenance of every run it covers."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from pathlib import Path

import pandas as pd

from xaibench.report.leaderboard import GroupResult
from xaibench.report.load import Runs
from xaibench.report.settings import ReportSettings
from xaibench.report.tables import (
    caption,
    cells,
    controls_sentence,
    headers,
    interval_name,
    number,
    p_value,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #444; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
.runs { overflow-x: auto; } .runs td, .runs th { text-align: left; }
"""


def html_table(table: pd.DataFrame, raw: bool = False) -> str:
    """A DataFrame as an HTML table; cells are escaped unless `raw` (already HTML)."""

    def cell(value: object) -> str:
        return str(value) if raw else escape(str(value))

    head = "".join(f"<th>{escape(str(c))}</th>" for c in [table.index.name or "", *table.columns])
    body = "".join(
        f"<tr><td>{escape(str(index))}</td>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for index, row in zip(table.index, table.itertuples(index=False), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def details(summary: str, body: str) -> str:
    """A folded block: `summary` shows, `body` opens on a click (both already HTML)."""
    return f"<details><summary>{summary}</summary>{body}</details>"


def code_spans(text: str) -> str:
    """Markdown's `name` as HTML code."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", text)


def image(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(title)}</figcaption></figure>"
    )


def leaderboard_section(group: GroupResult, settings: ReportSettings) -> str:
    grid = cells(group, bold=("<b>", "</b>"), tie="†", ranks_better="‡")
    grid.columns = headers(group, "↑", "↓", escape=escape)
    grid.index.name = "method"
    return (
        f"<p class=note>{escape(caption(group, settings))}</p>"
        + html_table(grid, raw=True)
        + f"<p><b>Controls.</b> {code_spans(escape(controls_sentence(group, settings)))}</p>"
    )


def tests_section(group: GroupResult) -> str:
    friedman = pd.DataFrame(
        {
            "blocks": [t.blocks for t in group.tests.values()],
            "Friedman chi²": [number(t.friedman_chi2) for t in group.tests.values()],
            "p": [p_value(t.friedman_p) for t in group.tests.values()],
        },
        index=pd.Index(list(group.tests), name="metric"),
    )
    pairwise = "".join(
        details(
            f"{escape(metric)}: pairwise Wilcoxon p-values, Holm-adjusted",
            html_table(t.pairwise.map(p_value).rename_axis("method")),
        )
        for metric, t in group.tests.items()
    )
    return (
        "<h3>Significance</h3><p class=note>Friedman's test across methods, then paired "
        "Wilcoxon signed-rank tests between every pair of methods, Holm-corrected within each "
        "metric. Blocks are (model, sample) pairs where every method has a score.</p>"
        + html_table(friedman)
        + pairwise
    )


def agreement_section(group: GroupResult) -> str:
    text = (
        "<h3>Metric agreement</h3><p class=note>Kendall's tau-b between the method rankings "
        "(by mean, direction-aware) of each pair of metrics: 1 = same order, -1 = reversed.</p>"
        + html_table(group.agreement.map(lambda t: f"{t:.2f}").rename_axis("metric"))
    )
    localisation = group.localisation_agreement()
    if len(localisation):
        text += (
            "<p class=note>Faithfulness metrics (rows) against the ground-truth localisation "
            "ranking (columns):</p>"
            + html_table(localisation.map(lambda t: f"{t:.2f}").rename_axis("metric"))
        )
    return text


FIGURE_TITLES = {
    "bars": "Mean and confidence interval per method and metric",
    "critical_difference": "Critical-difference diagrams (mean block rank; bars join methods "
    "not significantly different)",
    "ranks": "Rank per metric and mean rank",
    "agreement": "Kendall's tau between metrics' method rankings",
}


def figure_title(name: str) -> str:
    if name.startswith("curves_"):
        return f"{name.removeprefix('curves_')} curves: mean over models and samples, 95% band"
    return FIGURE_TITLES.get(name, name)


def figures_section(figures: dict[str, Path]) -> str:
    return "<h3>Figures</h3>" + "".join(
        image(path, figure_title(name)) for name, path in figures.items()
    )


PROVENANCE_FIELDS = {
    "run": lambda m, f: f,
    "experiment": lambda m, f: m.get("experiment"),
    "seed": lambda m, f: m.get("seed"),
    "model accuracy": lambda m, f: _fmt(m.get("model", {}).get("test_accuracy")),
    "samples": lambda m, f: m.get("samples"),
    "device": lambda m, f: f"{m.get('device')} ({m.get('host')}, {m.get('cpu_threads')} threads)",
    "commit": lambda m, f: _commit(m.get("git", {})),
    "versions": lambda m, f: ", ".join(
        f"{k} {v}" for k, v in m.get("versions", {}).items() if k in VERSIONS_SHOWN
    ),
    "wall s": lambda m, f: m.get("wall_seconds"),
    "started": lambda m, f: m.get("started"),
    "errors": lambda m, f: len(m.get("errors", [])),
}
VERSIONS_SHOWN: tuple[str, ...] = ("python", "xaibench", "torch", "captum", "numpy")


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _commit(git: dict) -> str:
    commit = (git.get("commit") or "unknown")[:10]
    return commit + (" (dirty)" if git.get("dirty") else "")


def provenance_section(runs: Runs) -> str:
    table = pd.DataFrame(
        [
            {k: fn(meta, folder) for k, fn in PROVENANCE_FIELDS.items()}
            for folder, meta in runs.metas.items()
        ]
    ).set_index("run")
    # Values every run shares (versions, commit, device, ...) are said once, above the table.
    shared = [c for c in table.columns if len(runs.metas) > 1 and table[c].nunique() == 1]
    common = "".join(f"<li>{escape(c)}: {escape(str(table[c].iloc[0]))}</li>" for c in shared)
    configs = "".join(
        details(
            f"{escape(folder)}: overrides "
            f"<code>{escape(' '.join(meta.get('overrides', [])))}</code>",
            f"<pre>{escape(json.dumps(meta, indent=1, default=str))}</pre>",
        )
        for folder, meta in runs.metas.items()
    )
    sweeps = "".join(
        details(f"sweep {escape(folder)}: multirun.yaml", f"<pre>{escape(text)}</pre>")
        for folder, text in runs.sweeps.items()
    )
    return (
        "<h2 id=provenance>Runs and provenance</h2><p class=note>Every run this report covers, "
        "from its meta.json; open a run for its full metadata and resolved config.</p>"
        + (f"<p>Common to all runs:</p><ul>{common}</ul>" if common else "")
        + f"<div class=runs>{html_table(table.drop(columns=shared).fillna(''))}</div>"
        + configs
        + sweeps
    )


def method_note(settings: ReportSettings) -> str:
    return (
        f"<p class=note>Intervals ({settings.confidence:.0%}): with one trained model, a BCa "
        f"bootstrap over test samples ({settings.resamples} resamples, seed {settings.seed}, "
        "the same samples for every method); with several model seeds, "
        + interval_name(settings, several_models=True)
        + f". Significance level {settings.alpha}; control method "
        f"<code>{escape(settings.control)}</code>.</p>"
    )


def report_html(
    groups: list[GroupResult],
    figures: dict[str, dict[str, Path]],
    runs: Runs,
    settings: ReportSettings,
) -> str:
    """The whole page; `figures` maps each group's title to its figures (name -> PNG)."""
    nav = (
        " · ".join(f'<a href="#group{i}">{escape(g.title)}</a>' for i, g in enumerate(groups))
        + ' · <a href="#provenance">runs and provenance</a>'
    )
    sections = "".join(
        f"<section id=group{i}><h2>{escape(g.title)}</h2>"
        + leaderboard_section(g, settings)
        + tests_section(g)
        + agreement_section(g)
        + figures_section(figures[g.title])
        + "</section>"
        for i, g in enumerate(groups)
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>xaibench report</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>xaibench report</h1>"
        f"<p>{len(runs.metas)} run(s), {len(groups)} dataset × model group(s). {nav}</p>"
        + method_note(settings)
        + sections
        + provenance_section(runs)
        + "</body></html>\n"
    )
