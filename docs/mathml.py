"""mkdocs hook: the math that pymdownx.arithmatex marks (`$...$`, `$$...$$`) becomes MathML at
build time, which browsers render natively: the site needs no JavaScript and no network.

A formula that latex2mathml cannot read (or a command it does not know) is a build warning, so
`mkdocs build --strict` names the page instead of showing raw TeX.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

# arithmatex's generic output: <span class="arithmatex">\(...\)</span> and
# <div class="arithmatex">\[...\]</div>.
_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</(?P=tag)>',
    re.DOTALL,
)


def to_mathml(tex: str, display: bool, where: str) -> str:
    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises several kinds on malformed input
        log.warning("%s: cannot render math %r (%s)", where, tex, type(error).__name__)
        return f"<code>{html.escape(tex)}</code>"
    unknown = re.findall(r"<mi>(\\[A-Za-z]+)</mi>", out)
    if unknown:
        log.warning("%s: unknown TeX command %s in %r", where, unknown[0], tex)
    return out


def on_page_content(html_text: str, page, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        tex = html.unescape(match["tex"]).strip()
        mathml = to_mathml(tex, match["open"] == "[", page.file.src_uri)
        return f'<div class="math">{mathml}</div>' if match["tag"] == "div" else mathml

    return _MATH.sub(replace, html_text)
