"""The catalog (xaibench.catalog): every registered method and metric, with what a reader needs.
Its command line, `python -m xaibench.catalog`, is tested in tests/e2e/test_catalog_cli.py."""

from __future__ import annotations

from xaibench.catalog import main
from xaibench.methods import METHODS
from xaibench.metrics import METRICS


def test_methods_are_listed_with_family_citation_and_defaults(capsys):
    main(["methods"])
    out = capsys.readouterr().out
    assert out.startswith(f"Methods ({len(METHODS)})")  # plug-ins included, marked
    for name in METHODS.builtin_names():
        assert f"\n{name}  [{METHODS[name].family}]\n" in out
    assert "Petsiuk, Das, Saenko. RISE" in out
    assert "defaults: num_masks=2000, cell=4, p=0.5, seed=0" in out
    assert "background" not in out  # handed over by a run, not a user setting
    assert "Metrics (" not in out


def test_metrics_are_listed_with_their_direction_as_markdown(capsys):
    main(["metrics", "--markdown"])
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("| name ")
    for name in METRICS.builtin_names():
        direction = "higher is better" if METRICS[name].higher_is_better else "lower is better"
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
        assert f"| {METRICS[name].category} " in row and direction in row


def test_an_installed_plugin_is_listed_and_marked_as_one(capsys):
    """The example package (tests/example_plugin) is installed in the test environment."""
    main(["methods"])
    assert (
        "\ngxi_pos  [gradient, plug-in: xaibench-example-plugin 0.1.0]\n" in capsys.readouterr().out
    )
    main(["metrics", "--markdown"])
    out = capsys.readouterr().out
    assert "| plug-in " in out.splitlines()[0]
    row = next(line for line in out.splitlines() if line.startswith("| top_drop "))
    assert "xaibench-example-plugin 0.1.0" in row
    deletion = next(line for line in out.splitlines() if line.startswith("| deletion "))
    assert "plugin" not in deletion
