"""`python -m xaibench.catalog` in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def test_the_command_line_lists_both():
    done = subprocess.run(
        [sys.executable, "-m", "xaibench.catalog"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert "Methods (" in done.stdout and "Metrics (" in done.stdout
