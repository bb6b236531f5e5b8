"""The package's layers: the libraries (methods, metrics, data, models, report) know nothing of
runs, so each is usable from a notebook and the run flow can change without touching them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xaibench"
LIBRARIES = ("methods", "metrics", "data", "models", "report")
# The modules of a run: what `run.py` strings together, and the commands built on it.
RUN_LEVEL = {
    "xaibench.run", "xaibench.settings", "xaibench.stages", "xaibench.scoring",
    "xaibench.samples", "xaibench.runfolder", "xaibench.run_tables", "xaibench.result",
    "xaibench.roar", "xaibench.configs", "xaibench.catalog", "xaibench.sweep_report",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_library_imports_no_run_level_module(library):
    offending = {
        str(path.relative_to(PACKAGE)): sorted(imported_modules(path) & RUN_LEVEL)
        for path in sorted((PACKAGE / library).rglob("*.py"))
    }
    assert {file: modules for file, modules in offending.items() if modules} == {}
