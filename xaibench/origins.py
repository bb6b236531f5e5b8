"""Where a function's code comes from, so that what a user's code computes is cached under
that code: the import path, and the source of its module file (or its distribution's name and
version where there is no file to read).

xaibench's own functions have no origin here: the cache already keys them by xaibench's source
(cache.py `SOURCES`), and leaving them out keeps the keys of existing entries unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent

# Digest of each user module's source as it was when the module was (re)loaded by `refresh`:
# a module edited since then is reloaded, so the code that runs is the code in the key.
_LOADED: dict[str, str] = {}


@dataclass(frozen=True)
class Origin:
    """A user's function: `target` its import path (module.qualname), `version` what identifies
    its code, `source:<sha256 of the module file, 16 hex>` where the module is a file, else
    `<distribution> <version>` (or `unknown` for neither)."""

    target: str
    version: str

    def as_dict(self) -> dict[str, str]:
        return {"_target_": self.target, "_version_": self.version}


def module_of(fn: Callable) -> ModuleType | None:
    """The module that defines `fn` (through wrappers and partials)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.getmodule(inspect.unwrap(fn))


def is_builtin(fn: Callable) -> bool:
    """Whether `fn` is xaibench's own (defined in a module of the xaibench package)."""
    module = module_of(fn)
    file = getattr(module, "__file__", None)
    return file is not None and PACKAGE in Path(file).resolve().parents


def origin(fn: Callable) -> Origin | None:
    """Where `fn`'s code comes from, or None for xaibench's own functions."""
    if is_builtin(fn):
        return None
    module = module_of(fn)
    name = getattr(module, "__name__", "?")
    inner = inspect.unwrap(fn.func if isinstance(fn, functools.partial) else fn)
    target = f"{name}.{getattr(inner, '__qualname__', getattr(inner, '__name__', '?'))}"
    return Origin(target, module_version(module))


def module_version(module: ModuleType | None) -> str:
    """`source:<digest>` of the module's file, else its distribution and version."""
    file = getattr(module, "__file__", None)
    if file and Path(file).suffix == ".py" and Path(file).is_file():
        return f"source:{file_digest(Path(file))}"
    return distribution(module) or "unknown"


def distribution(module: ModuleType | None) -> str | None:
    """`<name> <version>` of the installed distribution that holds `module`, or None."""
    top = getattr(module, "__name__", "").partition(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        return f"{dist} {importlib.metadata.version(dist)}"
    return None


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def refresh(module_name: str) -> bool:
    """Reload module `module_name` (imported) if its source file changed since it was first
    seen here, so that a notebook or a long process never runs old code under a key made from
    the new source; whether it was reloaded. A reloaded module registers its plug-ins again,
    replacing the old entries (Registry.add)."""
    module = sys.modules[module_name]
    file = getattr(module, "__file__", None)
    if not file or not Path(file).is_file() or PACKAGE in Path(file).resolve().parents:
        return False
    digest = file_digest(Path(file))
    if _LOADED.setdefault(module_name, digest) == digest:
        return False
    # The bytecode cache is checked by the file's mtime in whole seconds and its size: an
    # edit within the same second that keeps the size would load the old bytecode.
    Path(importlib.util.cache_from_source(file)).unlink(missing_ok=True)
    importlib.invalidate_caches()
    importlib.reload(module)
    _LOADED[module_name] = digest
    return True


def error_line(error: BaseException) -> str:
    """`Type: message` on one line, with the file and line in the user's code where it arose."""
    text = " ".join(str(error).split()) or "(no message)"
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        text = " ".join((error.msg or "").split())
        where = f" ({Path(error.filename).name}, line {error.lineno})"
    elif error.__traceback__ is not None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f" ({Path(frame.filename).name}, line {frame.lineno})"
    return f"{type(error).__name__}: {text}{where}"


def locate(target: str) -> object:
    """The object at import path `target` (Hydra's `get_object`, the maintained implementation
    of `_target_`), its module reloaded if edited since it was imported (`refresh`). Raises the
    import's own error (Hydra's wrapper cuts it to "Error loading ...")."""
    from hydra.utils import get_object

    found = None
    for _ in range(2):  # once more after a reload, for the edited object
        try:
            with quiet("hydra.utils"):
                found = get_object(target)
        except Exception as error:
            raise (error.__cause__ or error) from None
        module = inspect.getmodule(found)
        if module is None or not refresh(module.__name__):
            break
    return found


@contextmanager
def quiet(logger: str):
    """Hydra's get_object logs its error before raising it; the caller reports it once."""
    log = logging.getLogger(logger)
    before = log.disabled
    log.disabled = True
    try:
        yield
    finally:
        log.disabled = before
