"""`python -m xaibench.report` in a subprocess: bad input is one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "nowhere is not a folder"),
        (["tests"], "no runs found under tests"),
        (["tests", "conf"], "several PATHs: choose the report folder with --out DIR"),
    ],
)
def test_bad_input_is_one_line(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "xaibench.report", *args], capture_output=True, text=True,
        cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr
