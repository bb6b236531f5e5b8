"""The worked example of docs/guide/your-own-method.md, run as the page shows it: the example
plug-in package (tests/example_plugin, installed in the test environment) is discovered through
its entry points, listed by the catalogue, and ranked against built-ins in a sweep whose
leaderboard shows it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

PAGE = ROOT / "docs" / "guide" / "your-own-method.md"


def page_command(prefix: str) -> list[str]:
    """The one command of the page's bash blocks that starts with `prefix`, as arguments."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    (line,) = [line for block in blocks for line in block.splitlines() if line.startswith(prefix)]
    return shlex.split(line)


def test_the_catalogue_lists_the_installed_plugin_as_the_page_shows():
    command = page_command("python -m xaibench.catalog")
    done = subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    shown = "gxi_pos  [gradient, plug-in: xaibench-example-plugin 0.1.0]"
    assert f"\n{shown}\n" in done.stdout
    assert f"```text\n{shown}\n```" in PAGE.read_text(encoding="utf-8")


def test_the_pages_sweep_ranks_the_plugin_against_the_builtins(tmp_path):
    command = page_command("python -m xaibench -m")
    assert "debug=fast" in command
    done = subprocess.run(
        [sys.executable, *command[1:], "threads=1", "hydra.sweep.dir=sweep",
         f"cache_dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "sweep" / "report" / "leaderboard.parquet")
    assert set(table["method"]) == {"saliency", "input_x_gradient", "random", "gxi_pos"}
    assert set(table["metric"]) == {"deletion", "top_drop"}
    assert (table["models"] == 2).all()
    for _, part in table.groupby("metric"):
        assert sorted(part["rank"])[0] == 1 and part["rank"].notna().all()
    leaderboard = (tmp_path / "sweep" / "report" / "leaderboard.md").read_text()
    assert "| gxi_pos " in leaderboard and "top_drop ↑" in leaderboard
    scores = pd.concat(
        pd.read_parquet(path) for path in sorted((tmp_path / "sweep").glob("*/scores.parquet"))
    )
    params = scores[scores.method == "gxi_pos"].method_params.unique()
    assert len(params) == 1
    assert '"_target_": "xaibench_example_plugin.methods.gxi_pos"' in params[0]


def test_importing_the_plugin_before_xaibench_registers_it_without_a_warning():
    """The plug-in's module imports xaibench, whose import loads the entry points, which name
    that same module, part-way imported: it is left to register itself, without a warning."""
    done = subprocess.run(
        [sys.executable, "-c", "import xaibench_example_plugin.methods, xaibench; "
         "print(xaibench.available_methods().count('gxi_pos'), "
         "xaibench.available_metrics().count('top_drop'))"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]
    assert "PluginWarning" not in done.stderr
