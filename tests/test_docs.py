"""The documentation site, checked without building it: the generator (docs/gen_pages.py) makes
a page per registered method and metric, every page of the navigation exists or is generated,
the studies' figures resolve, and the README stays short."""

from __future__ import annotations

import functools
import importlib.util
import re

import pytest
import yaml

import xaibench
from tests.helpers import ROOT
from xaibench.methods import METHODS, MethodInfo
from xaibench.metrics import METRICS

DOCS = ROOT / "docs"
README_LIMIT = 15 * 1024


@functools.cache
def generator():
    spec = importlib.util.spec_from_file_location("gen_pages", DOCS / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as a module, it writes nothing
    return module


@functools.cache
def generated() -> dict[str, str]:
    return generator().pages()


def nav_paths(items) -> list[str]:
    """Every page or folder named in a mkdocs nav."""
    paths = []
    for item in items:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            paths += nav_paths(value)
        elif "://" not in value:
            paths.append(value)
    return paths


def page_exists(path: str) -> bool:
    return (DOCS / path).is_file() or path in generated()


def links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)#\s]+)", markdown)


def mine(model, inputs, target):
    """A plug-in of this test."""
    return inputs


def test_installed_plugins_have_a_marked_section_and_the_tests_example_is_left_out():
    xaibench.register_method("test_docs_plugin", family="other")(mine)
    try:
        index = generated()["methods/index.md"]
    finally:
        METHODS.remove("test_docs_plugin")
    builtin, _, plugins = index.partition("## Installed plug-ins")
    assert "Not part of xaibench" in plugins
    assert "| `test_docs_plugin` | other | A plug-in of this test. | tests.test_docs.mine |" in (
        plugins
    )
    assert "test_docs_plugin" not in builtin
    assert "gxi_pos" not in index  # the example package, installed for the tests


def test_one_page_per_registered_method_and_metric():
    pages = generated()
    for section, registry in (("methods", METHODS), ("metrics", METRICS)):
        entries = {p for p in pages if p.startswith(f"{section}/")}
        names = {f"{section}/{name}.md" for name in registry.builtin_names()}
        assert entries - names == {f"{section}/index.md", f"{section}/SUMMARY.md"}
        assert names <= entries
        index = pages[f"{section}/index.md"]
        assert all(f"]({name}.md)" in index for name in registry.builtin_names())
    kind = {"methods": "method", "metrics": "metric"}
    for path, text in pages.items():
        section, _, name = path.partition("/")
        if section in kind and name not in ("index.md", "SUMMARY.md"):
            assert f"python -m xaibench {kind[section]}=[{name[:-3]}]" in text


def test_every_page_in_the_nav_exists_or_is_generated():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    for path in nav_paths(config["nav"]):
        if path.endswith("/"):  # a section whose navigation the generator writes
            summary = f"{path}SUMMARY.md"
            assert summary in generated(), f"{path}: no generated {summary}"
            missing = [p for p in links(generated()[summary]) if not page_exists(path + p)]
            assert missing == [], f"{summary} names missing pages"
            assert page_exists(f"{path}index.md")
        else:
            assert page_exists(path), f"{path} is neither in docs/ nor generated"


def test_the_studies_figures_resolve_in_the_site():
    studies = {p: t for p, t in generated().items() if p.startswith("studies/")}
    assert {f"studies/{p.name}" for p in (ROOT / "experiments").glob("*.md")} <= set(studies)
    for path, text in studies.items():
        for link in links(text):
            if link.endswith(".png"):
                assert (DOCS / "studies" / link).resolve().is_file(), f"{path}: {link}"


def test_a_docstring_without_sections_still_makes_a_page():
    def bare(model, inputs, target, strength: float = 1.0):
        return inputs

    page = generator().entry_page("method", MethodInfo("bare", bare, "gradient"))
    assert page.startswith("# `bare`") and "| `strength` | `1.0` |" in page


@pytest.mark.parametrize("kind", ["method", "metric"])
def test_settings_tables_list_every_setting(kind):
    registry = METHODS if kind == "method" else METRICS
    for name in registry.builtin_names():
        page = generated()[f"{kind}s/{name}.md"]
        for setting in registry[name].settings():
            assert f"| `{setting}` |" in page, f"{name}: {setting}"


def test_the_guarantees_name_tests_that_exist():
    page = (DOCS / "guide" / "guarantees.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", page)
    assert len(named) >= 20
    missing = [f"{file}::{test}" for file, test in named
               if f"def {test}(" not in (ROOT / file).read_text(encoding="utf-8")]  # fmt: skip
    assert missing == []


def test_the_readme_fits_in_15_kb():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"
