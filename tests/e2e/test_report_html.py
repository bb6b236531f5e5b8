"""The written report: every file (written by `python -m xaibench.report` in a subprocess),
byte-for-byte determinism, and a self-contained HTML page that renders in headless Chromium
(skipped where Chromium is not installed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from scripts.screenshot_report import find_chromium, screenshot
from tests.helpers import MEANS, ROOT, write_synthetic_sweep
from xaibench.report.settings import ReportSettings
from xaibench.report.write import write_report

pytestmark = pytest.mark.e2e
TABLES = ["leaderboard.csv", "leaderboard.parquet", "leaderboard.md", "leaderboard.tex",
          "pairwise_tests.csv", "metric_agreement.csv", "metric_agreement_tests.csv",
          "localisation_agreement.md", "settings.json", "report.html"]  # fmt: skip
FIGURES = ["bars", "critical_difference", "ranks", "agreement", "curves_deletion",
           "curves_insertion"]  # fmt: skip


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The same synthetic sweep reported twice: by the CLI, and in this process."""
    base = tmp_path_factory.mktemp("report")
    sweep = write_synthetic_sweep(base / "sweep", MEANS, samples=40)
    done = subprocess.run(
        [sys.executable, "-m", "xaibench.report", str(sweep), "--resamples", "300"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    write_report([sweep], base / "again", ReportSettings(resamples=300))
    return sweep / "report", base / "again", done


def test_cli_writes_every_table_and_figure(reports):
    folder, _, done = reports
    assert done.returncode == 0, done.stderr
    assert "| good" in done.stdout and done.stdout.strip().endswith("report.html")
    for name in TABLES:
        assert (folder / name).stat().st_size > 0, name
    for figure in FIGURES:
        for fmt in ("png", "pdf"):
            assert (folder / "figures" / "mnist1d_cnn" / f"{figure}.{fmt}").stat().st_size > 1000
    table = pd.read_parquet(folder / "leaderboard.parquet")
    assert len(table) == 8  # 4 methods x 2 metrics
    from_csv = pd.read_csv(folder / "leaderboard.csv", dtype={"beats_control": "boolean"})
    pd.testing.assert_frame_equal(table, from_csv, check_dtype=False)


def test_reports_are_byte_identical_for_the_same_runs(reports):
    first, second, _ = reports
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for path in files:
        assert (first / path).read_bytes() == (second / path).read_bytes(), path


def test_html_is_self_contained_with_provenance(reports):
    page = (reports[0] / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    assert "<link" not in page and "<script" not in page
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    expected = ["mnist1d / cnn", "Friedman", "Kendall", "Runs and provenance", "0123456789",
                "torch 2.14.1", "seed=2", "multirun.yaml"]  # fmt: skip
    for text in expected:
        assert text in page, text


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed")
def test_html_renders_in_headless_chromium(reports, tmp_path):
    png = screenshot(reports[0] / "report.html", tmp_path / "page.png", width=1000, height=1400)
    pixels = imread(png)[..., :3]
    assert pixels.shape[:2] == (1400, 1000)
    # A rendered page: mostly white background, but text, tables and coloured figures too.
    assert (pixels > 0.95).all(axis=-1).mean() > 0.5
    assert np.unique((pixels * 8).astype(int).reshape(-1, 3), axis=0).shape[0] > 20
