"""Read a registered function's docstring: the one text that describes a method or a metric.

Docstrings are Google style (parsed by `docstring_parser`) with two sections of our own:

    References:
        The source paper (the registry's citation).
    Implementations differ:
        Settings on which the field's implementations disagree, and what xaibench does.

The catalog, the generated configs and the documentation pages all read them from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from docstring_parser import google

REFERENCES = "References"
DIFFERENCES = "Implementations differ"

_PARSER = google.GoogleParser(
    sections=[
        *google.DEFAULT_SECTIONS,
        google.Section(REFERENCES, "references", google.SectionType.SINGULAR),
        google.Section(DIFFERENCES, "differences", google.SectionType.SINGULAR),
    ]
)


@dataclass(frozen=True)
class Doc:
    """The parts of a docstring, each as plain text ('' where absent)."""

    summary: str
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str = ""
    examples: str = ""
    references: str = ""
    differences: str = ""


@functools.cache
def parse_text(text: str) -> Doc:
    parsed = _PARSER.parse(text)
    sections = {m.args[0]: m.description or "" for m in parsed.meta if len(m.args) == 1}
    # The summary is the first paragraph (docstring_parser stops at the first line break).
    head = "\n".join(p for p in (parsed.short_description, parsed.long_description) if p)
    if parsed.blank_after_short_description:
        head = head.replace("\n", "\n\n", 1)
    summary, _, description = head.partition("\n\n")
    return Doc(
        summary=" ".join(summary.split()),
        description=description.strip(),
        params={p.arg_name: " ".join((p.description or "").split()) for p in parsed.params},
        returns=parsed.returns.description or "" if parsed.returns else "",
        examples="\n\n".join(e.description or "" for e in parsed.examples),
        references=sections.get("references", ""),
        differences=sections.get("differences", ""),
    )


def parse(fn: Callable) -> Doc:
    """The parsed docstring of `fn` (an empty summary where it has none)."""
    return parse_text(fn.__doc__ or "")
