"""Reports over run and sweep folders: leaderboards with intervals, tests and figures.

    from xaibench.report import load_runs, build_leaderboard, write_report, summarize
    page = write_report(["results/ig_vs_gradcam/multirun/study"], "my_report")

The names are imported on first use, so `python -m xaibench.report` can reject a bad path
before paying for torch and matplotlib imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "load_runs": "xaibench.report.load",
    "find_run_folders": "xaibench.report.load",
    "Runs": "xaibench.report.load",
    "build_leaderboard": "xaibench.report.leaderboard",
    "GroupResult": "xaibench.report.leaderboard",
    "write_report": "xaibench.report.write",
    "summarize": "xaibench.report.summary",
    "ReportSettings": "xaibench.report.settings",
}

__all__ = [
    "GroupResult",
    "ReportSettings",
    "Runs",
    "build_leaderboard",
    "find_run_folders",
    "load_runs",
    "summarize",
    "write_report",
]

if TYPE_CHECKING:
    from xaibench.report.leaderboard import GroupResult, build_leaderboard
    from xaibench.report.load import Runs, find_run_folders, load_runs
    from xaibench.report.settings import ReportSettings
    from xaibench.report.summary import summarize
    from xaibench.report.write import write_report


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'xaibench.report' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
