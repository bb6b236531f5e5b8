"""Every registered method and metric describes itself in its docstring, the one text that the
catalog, the generated configs and the documentation pages are made from."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import tomllib
from pathlib import Path

import pytest

import xaibench
import xaibench.report
from xaibench.methods import METHODS
from xaibench.metrics import METRICS
from xaibench.metrics.reexplain import REEXPLAIN_SETTINGS

ENTRIES = [("method", name) for name in METHODS.builtin_names()] + [
    ("metric", name) for name in METRICS.builtin_names()
]


def info_of(kind: str, name: str):
    return (METHODS if kind == "method" else METRICS)[name]


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_the_docstring_has_a_summary_a_reference_and_an_example(kind, name):
    doc = info_of(kind, name).doc
    assert doc.summary.endswith("."), doc.summary
    assert len(doc.summary) <= 250, f"summary of {len(doc.summary)} characters: keep it one line"
    assert doc.references, "a `References:` section with the source paper"
    assert ">>>" in doc.examples, "an `Example:` section with a doctest"


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_every_setting_is_documented_and_every_documented_name_exists(kind, name):
    info = info_of(kind, name)
    documented = set(info.doc.params)
    shared = set(REEXPLAIN_SETTINGS) if kind == "metric" and info.reexplains else set()
    assert sorted(set(info.settings()) - documented - shared) == []
    # Args may document the data and context parameters too, and a variant's base documents
    # the setting the variant fixes; nothing else.
    exists = set(inspect.signature(inspect.unwrap(info.fn)).parameters)
    assert sorted(documented - exists) == []


@pytest.mark.parametrize("name", METRICS.builtin_names())
def test_a_metric_docstring_states_its_registered_direction(name):
    info = METRICS[name]
    said = "Higher is better" if info.higher_is_better else "Lower is better"
    unsaid = "Lower is better" if info.higher_is_better else "Higher is better"
    text = inspect.getdoc(info.fn).lower()
    assert said.lower() in text and unsaid.lower() not in text


@pytest.mark.parametrize(("kind", "name"), ENTRIES)
def test_the_docstring_example_runs(kind, name):
    fn = info_of(kind, name).fn
    tests = doctest.DocTestFinder(recurse=False).find(fn, name, globs={})
    assert tests and tests[0].examples
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s); run with -s to see"


def test_ruff_checks_the_docstrings_of_every_public_module():
    """pyproject.toml lists the files that ruff's docstring rules (D) check: every module behind
    an exported name, and every module that registers a method or a metric, must be among them
    (a module missing from the list would go unchecked)."""
    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    ignores = config["tool"]["ruff"]["lint"]["per-file-ignores"]
    (negated,) = [key for key in ignores if key.startswith("!") and "D" in ignores[key]]
    checked = negated.removeprefix("!{").removesuffix("}").split(",")
    exported = {**xaibench._PUBLIC, **xaibench.report._PUBLIC}  # name -> module importing it
    modules = {"xaibench.testing", *exported.values()}
    modules |= {
        getattr(importlib.import_module(m), name).__module__ for name, m in exported.items()
    }
    modules |= {
        registry[name].fn.__module__
        for registry in (METHODS, METRICS)
        for name in registry.builtin_names()
    }
    for module in sorted(modules):
        path = Path(importlib.util.find_spec(module).origin).relative_to(root)
        assert any(path.match(pattern) for pattern in checked), f"{path} is not in {checked}"
