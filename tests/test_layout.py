"""The layout of tests/ itself: test modules share code only through tests/helpers.py and
tests/references.py, only tests/e2e starts subprocesses (and is marked `e2e`), and every
paper-following reference lives in tests/references.py and names its paper."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SHARED = {"tests.helpers", "tests.references"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(path: Path) -> set[str]:
    """The dotted names a file imports, relative imports resolved; `from X import y` counts as
    importing X and X.y (y may be a module)."""
    package = module_name(path).rsplit(".", 1)[0].split(".")
    names = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def modules_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("test_*.py"))


def test_no_test_module_imports_another_and_the_shared_code_is_helpers_and_references():
    wrong = {}
    for path in [*modules_under(TESTS), *TESTS.rglob("conftest.py"), *TESTS.glob("*.py")]:
        allowed = SHARED - {module_name(path)}
        for name in imported_modules(path):
            parts = name.split(".")
            from_tests = parts[0] == "tests" and len(parts) > 1
            if any(p.startswith("test_") for p in parts) or (
                from_tests and not any(name == s or name.startswith(f"{s}.") for s in allowed)
            ):
                wrong.setdefault(str(path.relative_to(TESTS)), []).append(name)
    assert wrong == {}, "import shared code from tests.helpers or tests.references"


def starts_subprocesses(path: Path) -> bool:
    """Imports subprocess or the command-line runner, or names the interpreter."""
    names = imported_modules(path)
    interpreter = any(
        isinstance(node, ast.Attribute) and node.attr == "executable"
        for node in ast.walk(parsed(path))
    )
    return "subprocess" in names or "tests.helpers.xaibench_cli" in names or interpreter


def has_e2e_marker(path: Path) -> bool:
    for node in parsed(path).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return "pytest.mark.e2e" in ast.unparse(node.value)
    return False


def test_only_e2e_modules_start_subprocesses_and_each_is_marked_e2e():
    outside = [str(p.relative_to(TESTS)) for p in modules_under(TESTS) if starts_subprocesses(p)]
    assert [p for p in outside if not p.startswith("e2e/")] == []
    e2e = modules_under(TESTS / "e2e")
    assert e2e, "tests/e2e holds the command-line tests"
    assert [str(p.relative_to(TESTS)) for p in e2e if not has_e2e_marker(p)] == []


def test_every_reference_is_in_references_py_and_names_its_paper():
    references = parsed(TESTS / "references.py")
    public = [
        node
        for node in references.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    ]
    assert public
    unnamed = [
        node.name
        for node in public
        if not re.search(r"\b(19|20)\d\d\b", ast.get_docstring(node) or "")
    ]
    assert unnamed == [], "each reference's docstring names its paper (authors and year)"
    elsewhere = [
        f"{path.relative_to(TESTS)}: {node.name}"
        for path in modules_under(TESTS)
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.FunctionDef)
        and node.name.endswith("_reference")
        and not node.name.startswith("test_")
    ]
    assert elsewhere == [], "references live in tests/references.py"
