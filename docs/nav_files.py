"""mkdocs hook: the SUMMARY.md files that docs/gen_pages.py writes give mkdocs-literate-nav the
navigation of a section; they are not pages of their own, so they are not rendered."""

from __future__ import annotations

from mkdocs.structure.files import InclusionLevel


def on_nav(nav, config, files):
    # literate-nav has read them by now (its on_files runs last).
    for file in files:
        if file.src_uri.endswith("/SUMMARY.md"):
            file.inclusion = InclusionLevel.EXCLUDED
    return nav
