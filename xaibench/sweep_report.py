"""A multirun ends with its leaderboard report, so a study is one command, and exits 1 when a
job failed (every method or every metric of it).

Hydra calls `on_multirun_end` in the launching process once every job has returned, whichever
launcher ran the jobs (basic, joblib, submitit), so the report sees the whole sweep folder.
`sweep_report=false` turns the report off; `python -m xaibench.report SWEEP_FOLDER` writes the
same report by hand (for example after re-running failed jobs).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from xaibench.registry import XaibenchError
from xaibench.runfolder import COMPLETE

log = logging.getLogger("xaibench")


class ReportAfterSweep(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        if config.get("sweep_report", True):
            report(folder)
        failed = [
            str(meta.parent)
            for meta in sorted(folder.rglob("meta.json"))
            if json.loads(meta.read_text()).get("status", COMPLETE) != COMPLETE
        ]
        if failed:
            print(f"xaibench: error: failed jobs (every method or every metric failed): "
                  f"{', '.join(failed)}", file=sys.stderr)  # fmt: skip
            sys.exit(1)


def report(folder: Path) -> None:
    from xaibench.report.settings import ReportSettings  # heavy imports only when a sweep ends
    from xaibench.report.write import write_report

    try:
        page = write_report([folder], folder / "report", ReportSettings())
    except XaibenchError as error:  # e.g. every job failed: say so, the jobs' files stay
        log.error("no report for %s: %s", folder, error)
        print(f"xaibench: no report for {folder}: {error}")
        return
    print((folder / "report" / "leaderboard.md").read_text(encoding="utf-8"))
    print(f"Report: {page}")
