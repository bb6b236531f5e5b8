"""Generate the site's pages that come from the code or from files outside docs/.

mkdocs-gen-files runs this file at build time (see mkdocs.yml); `pages()` returns every
generated page as {path under docs/: markdown}, so tests can check it without building.

- methods/NAME.md and metrics/NAME.md: one page per registered method and metric, made from its
  registry entry and its docstring (`xaibench.docstrings.Doc`); methods/index.md and
  metrics/index.md: their tables. No method or metric prose is written here.
- studies/NAME.md: experiments/NAME.md, image links rewritten for the site.
- contributing.md, changelog.md: CONTRIBUTING.md and CHANGELOG.md.
- guide/differences.md: the hand-written page, followed by every docstring's
  "Implementations differ" section.
- SUMMARY.md in methods/, metrics/ and studies/: their navigation (mkdocs-literate-nav).

A docstring may lack any section: the page then leaves that part out.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # document this checkout, whatever is installed

KINDS = {"method": "methods", "metric": "metrics"}


# --- markdown helpers -------------------------------------------------------------------------


def yaml_value(value: object) -> str:
    """A default as it is written in a config or on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def cell(text: str) -> str:
    """`text` on one line, safe inside a table cell: pipes escaped (in math, `\\vert{}`; code
    spans keep theirs, as the table extension does not split inside them)."""
    out = []
    for part in re.split(r"(`[^`]*`|\$[^$]+\$)", " ".join(str(text).split())):
        if part.startswith("`"):
            out.append(part)
        elif part.startswith("$") and len(part) > 1:
            out.append(part.replace("|", r"\vert{}"))
        else:
            out.append(part.replace("|", r"\|"))
    return "".join(out)


_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")


def block(text: str) -> str:
    """Docstring text as markdown: a list gets the blank lines Python-Markdown needs around it
    (docstrings, like GitHub, often start a list right under a sentence)."""
    lines, out, in_list = text.strip("\n").split("\n"), [], False
    for line in lines:
        item = bool(_ITEM.match(line))
        if item and not in_list and out and out[-1].strip():
            out.append("")
        if not line.strip():
            in_list = False if not item else in_list
        elif item:
            in_list = True
        elif in_list and not line.startswith(" "):
            # A continuation of the item (docstring_parser dedents a one-item list, so its
            # wrapped lines lose their hanging indent): indent it under the item.
            line = "  " + line
        out.append(line)
    return "\n".join(out).strip()


def indent(text: str, spaces: int = 4) -> str:
    return "\n".join((" " * spaces + line) if line.strip() else "" for line in text.split("\n"))


def examples(text: str) -> str:
    """An Example section: doctest blocks as console code, prose between them as text."""
    parts = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        chunk = chunk.strip("\n")
        if not chunk.strip():
            continue
        if chunk.lstrip().startswith(">>>"):
            parts.append("```pycon\n" + textwrap.dedent(chunk) + "\n```")
        else:
            parts.append(block(chunk))
    return "\n\n".join(parts)


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- methods and metrics ----------------------------------------------------------------------


def registries():
    from xaibench.methods import METHODS
    from xaibench.metrics import METRICS

    return {"method": METHODS, "metric": METRICS}


def direction(info) -> str:
    return "higher is better ↑" if info.higher_is_better else "lower is better ↓"


def group_order(kind: str) -> tuple[str, ...]:
    if kind == "method":
        from xaibench.methods.registry import FAMILIES

        return FAMILIES
    from xaibench.metrics.registry import CATEGORIES

    return CATEGORIES


def group_of(kind: str, info) -> str:
    return info.family if kind == "method" else info.category


def ordered(kind: str, registry) -> list:
    """xaibench's own entries by family (methods) or category (metrics), in the registry's
    order, then name (installed plug-ins: see `plugin_section`)."""
    order = {group: i for i, group in enumerate(group_order(kind))}
    infos = [registry[name] for name in registry.builtin_names()]
    return sorted(infos, key=lambda info: (order.get(group_of(kind, info), 99), info.name))


def settings_rows(kind: str, info) -> list[list[str]]:
    from xaibench.constraints import describe
    from xaibench.metrics.reexplain import REEXPLAIN_SETTINGS

    doc, defaults, types = info.doc, info.defaults(), info.setting_types()
    params = getattr(doc, "params", {}) or {}
    shared = REEXPLAIN_SETTINGS if kind == "metric" and getattr(info, "reexplains", False) else {}
    rows = []
    for name in info.settings():
        default = f"`{yaml_value(defaults[name])}`" if name in defaults else "(required)"
        meaning = params.get(name) or (shared[name][1] if name in shared else "")
        rows.append([f"`{name}`", default, cell(describe(types[name])), cell(meaning) or "—"])
    return rows


def context_needs(info) -> list[str]:
    """What a run hands over to this entry (ground-truth masks, training inputs)."""
    import inspect

    from xaibench.registry import CONTEXT_PARAMS

    accepted = inspect.signature(info.fn).parameters
    text = {
        "masks": "ground-truth masks (`masks`), which a run passes on datasets that have them "
        "(see [Datasets and models](../guide/datasets-and-models.md))",
        "background": "training inputs (`background`), which a run passes",
    }
    return [text.get(name, f"`{name}`") for name in CONTEXT_PARAMS if name in accepted]


def usage(kind: str, info) -> str:
    name, plural = info.name, KINDS[kind]
    defaults = info.defaults()
    settable = [s for s in info.settings() if s in defaults and s not in ("batch_size", "seed")]
    lines = [f"python -m xaibench {kind}=[{name}]"]
    if settable:
        setting = settable[0]
        value = yaml_value(defaults[setting])
        arg = f"{kind}.{name}.{setting}={value}"
        if any(c in value for c in " [{,"):
            arg = f"'{arg}'"
        lines.append(f"python -m xaibench {kind}=[{name}] {arg}")
        lines.append(f"python -m xaibench '+{kind}.my_{name}={{uses: {name}, {setting}: {value}}}'")
    call = (
        f'xaibench.explain(model, inputs, target, "{name}")'
        if kind == "method"
        else f'xaibench.evaluate(model, inputs, target, attributions, "{name}")'
    )
    text = [
        f"In a run, select it with `{kind}=[...]` (it then replaces the default {plural}); "
        f"change a setting with `{kind}.{name}.SETTING=VALUE`, or add a labelled variant with "
        f"`uses:` (see [Running experiments](../guide/running.md)):",
        "",
        "```bash",
        *lines,
        "```",
        "",
        f"In Python: `{call}`, settings as keyword arguments.",
    ]
    config = ROOT / "conf" / kind / f"{name}.yaml"
    if config.exists():
        text += ["", f"Its defaults in a run: `conf/{kind}/{name}.yaml`."]
    return "\n".join(text)


def entry_page(kind: str, info) -> str:
    from xaibench.registry import RUN_PARAMS

    doc = info.doc
    get = lambda section: (getattr(doc, section, "") or "").strip()  # noqa: E731
    out = [f"# `{info.name}`", ""]
    if get("summary"):
        out += [get("summary"), ""]
    if kind == "method":
        out += [f"**Family:** {info.family}", ""]
    else:
        out += [f"**Category:** {info.category} · **Direction:** {direction(info)}", ""]
    if get("description"):
        out += [block(get("description")), ""]
    rows = settings_rows(kind, info)
    out += ["## Settings", ""]
    if rows:
        out += [table(["setting", "default", "valid", "meaning"], rows), ""]
        run_params = [f"`{p}`" for p in RUN_PARAMS if p in info.settings()]
        if run_params:
            out += [
                f"In a run, {' and '.join(run_params)} default to the run's own "
                "(see [Configs](../guide/configs.md)).",
                "",
            ]
    else:
        out += ["None.", ""]
    needs = context_needs(info)
    if needs:
        out += [f"It reads {' and '.join(needs)}.", ""]
    if kind == "metric" and getattr(info, "curve_x_label", None):
        x, y = info.curve_labels({})
        out += [f"**Curve:** {y} against {x}, saved per sample in `curves.parquet`.", ""]
    if get("returns"):
        out += ["## Returns", "", block(get("returns")), ""]
    if get("differences"):
        out += ['!!! note "Implementations differ"', "", indent(block(get("differences"))), ""]
    if get("examples"):
        out += ["## Example", "", examples(get("examples")), ""]
    if get("references"):
        out += ["## Reference", "", block(get("references")), ""]
    out += ["## Use it", "", usage(kind, info), ""]
    return "\n".join(out)


# The worked example of the user guide's "Benchmark your own method", installed in the dev
# environment from tests/example_plugin: not a part of xaibench, so never in its catalogue.
EXAMPLE_DISTRIBUTIONS = ("xaibench-example-plugin",)


def plugin_section(kind: str, registry) -> list[str]:
    """Plug-ins installed where the site is built, in a section of their own, marked as not
    xaibench's (the tests' example left out): name, group, summary, distribution."""
    from xaibench.plugins import provenance

    rows = []
    for name in registry.names():
        info = registry[name]
        found = provenance(info.fn)
        if found is None or found.get("_distribution_", "").split(" ")[0] in EXAMPLE_DISTRIBUTIONS:
            continue
        source = found.get("_distribution_") or found["_target_"]
        rows.append([f"`{name}`", group_of(kind, info), cell(info.doc.summary), cell(source)])
    if not rows:
        return []
    return [
        "## Installed plug-ins",
        "",
        f"Not part of xaibench: {KINDS[kind]} of packages installed where this site was built "
        "(see [Benchmark your own method](../guide/your-own-method.md)).",
        "",
        table(["name", "family" if kind == "method" else "category", "summary", "package"], rows),
        "",
    ]


def index_page(kind: str, registry) -> str:
    plural = KINDS[kind]
    if kind == "method":
        headers = ["name", "family", "summary"]
        rows = [
            [f"[`{i.name}`]({i.name}.md)", i.family, cell(i.doc.summary)]
            for i in ordered(kind, registry)
        ]
        intro = (
            f"{len(registry.builtin_names())} methods. Each works the same on signals "
            "`(N, C, L)` and images `(N, C, H, W)` and returns a map shaped like the input; "
            "what they share is in [What methods and metrics share](../guide/shared-behaviour.md)."
        )
    else:
        headers = ["name", "category", "direction", "summary"]
        rows = [
            [f"[`{i.name}`]({i.name}.md)", i.category, direction(i), cell(i.doc.summary)]
            for i in ordered(kind, registry)
        ]
        intro = (
            f"{len(registry.builtin_names())} metrics. Each scores every sample on its own; "
            "what they share is in [What methods and metrics share](../guide/shared-behaviour.md)."
        )
    return "\n".join(
        [
            f"# {plural.capitalize()}",
            "",
            intro,
            f"`python -m xaibench.catalog {plural}` lists them in a terminal; in Python, "
            f"`xaibench.available_{plural}()`.",
            "",
            table(headers, rows),
            "",
            *plugin_section(kind, registry),
        ]
    )


def summary_nav(
    entries: list[tuple[str, str]], sections: dict[str, list[tuple[str, str]]] | None = None
) -> str:
    """A SUMMARY.md for mkdocs-literate-nav: `entries`, then one section per key of `sections`."""
    lines = [f"- [{title}]({path})" for title, path in entries]
    for section, items in (sections or {}).items():
        lines.append(f"- {section}")
        lines += [f"    - [{title}]({path})" for title, path in items]
    return "\n".join(lines) + "\n"


# --- files from outside docs/ -----------------------------------------------------------------


def study_page(path: Path) -> str:
    """experiments/NAME.md for the site: its figures live in docs/, the site's root."""
    return path.read_text(encoding="utf-8").replace("](../docs/", "](../")


def root_page(path: Path) -> str:
    """A file from the repository root (CONTRIBUTING.md, CHANGELOG.md) as a page at the site's
    root: links into docs/ point at the pages themselves."""
    return path.read_text(encoding="utf-8").replace("](docs/", "](")


def title_of(markdown: str, default: str) -> str:
    for line in markdown.split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return default


def differences_page() -> str:
    """The hand-written page, then each entry's "Implementations differ" section."""
    out = [(DOCS / "guide" / "differences.md").read_text(encoding="utf-8").rstrip(), ""]
    out += ["## Per method and metric", ""]
    found = False
    for kind, registry in registries().items():
        for info in ordered(kind, registry):
            text = (getattr(info.doc, "differences", "") or "").strip()
            if text:
                found = True
                link = f"../{KINDS[kind]}/{info.name}.md"
                out += [f"### [`{info.name}`]({link})", "", block(text), ""]
    if not found:
        out += [
            "Each method's and metric's page shows its own *Implementations differ* note, "
            "from its docstring; none has one yet.",
            "",
        ]
    return "\n".join(out)


# --- all pages --------------------------------------------------------------------------------


def pages() -> dict[str, str]:
    """Every generated page: {path under docs/: markdown}."""
    out: dict[str, str] = {}
    for kind, registry in registries().items():
        plural = KINDS[kind]
        out[f"{plural}/index.md"] = index_page(kind, registry)
        groups: dict[str, list[tuple[str, str]]] = {}
        for info in ordered(kind, registry):
            out[f"{plural}/{info.name}.md"] = entry_page(kind, info)
            groups.setdefault(group_of(kind, info), []).append((info.name, f"{info.name}.md"))
        out[f"{plural}/SUMMARY.md"] = summary_nav([("Overview", "index.md")], groups)
    nav = [("Overview", "index.md")]
    for path in sorted((ROOT / "experiments").glob("*.md")):
        text = study_page(path)
        out[f"studies/{path.name}"] = text
        nav.append((path.stem, path.name))
    out["studies/SUMMARY.md"] = summary_nav(nav)
    out["contributing.md"] = root_page(ROOT / "CONTRIBUTING.md")
    out["changelog.md"] = root_page(ROOT / "CHANGELOG.md")
    out["guide/differences.md"] = differences_page()
    return out


def write() -> None:
    import mkdocs_gen_files

    for path, text in pages().items():
        with mkdocs_gen_files.open(path, "w") as f:
            f.write(text)


if __name__ in ("__main__", "<run_path>"):
    write()
