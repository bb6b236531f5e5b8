"""Content-addressed cache for generated datasets, trained models, attributions and scores.

An entry's file name is a hash of what determines it: the spec (every argument of the
generator, the training run, the method or the metric) and the source code of the xaibench
modules that compute it, so neither a changed setting nor changed code can load a stale entry.
Writes are atomic and guarded by a file lock: parallel jobs that need the same entry build it
once. Each entry is written with the sha256 of its bytes and checked against it when read
(cache_entries.py), so damaged bytes are recomputed, never used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from xaibench.cache_entries import (
    DamagedEntry,
    quarantine,
    read_entry,
    sidecar_of,
    temp_files,
    write_entry,
)
from xaibench.registry import XaibenchError

log = logging.getLogger(__name__)

# Bump when the layout of cached objects changes, so old entries are not read. 2: entries
# carry the sha256 of their bytes and are checked on every read; entries of format 1 could
# not be checked (nothing recorded what was written), so they are never read: recomputed once.
CACHE_FORMAT = 2

DEFAULT_CACHE_DIR = "~/.cache/xaibench"

PACKAGE = Path(__file__).resolve().parent

# The code each kind of entry depends on (paths inside the xaibench package).
SOURCES = {
    "datasets": ("data",),
    "models": ("data", "models"),
    "attributions": ("methods", "perturb.py", "checks.py"),
    "scores": ("metrics", "methods", "perturb.py", "checks.py"),
}


@functools.cache
def source_digest(kind: str) -> str:
    """Hash of the source files that compute entries of `kind`."""
    digest = hashlib.sha256()
    for part in SOURCES.get(kind, ()):
        path = PACKAGE / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def spec_digest(spec: dict, kind: str = "") -> str:
    canonical = json.dumps(
        {"format": CACHE_FORMAT, "code": source_digest(kind), **spec}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """Hash of tensors' shapes, dtypes and values: identifies inputs by content."""
    digest = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:20]


class Cache:
    """`load_or_build(kind, spec, build)` returns the cached object for `spec`, building it once.

    Every entry is checked when read (cache_entries.py): a damaged one is reported in one log
    line, moved to `<kind>/quarantine/` and recomputed. An entry is read, written and moved
    only under its lock (`<key>.lock`), so a temporary file whose entry's lock is free belongs
    to no live writer: the first use of a kind's folder removes those a killed write left.
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_CACHE_DIR):
        self.root = Path(root).expanduser()
        self._opened: set[Path] = set()

    def path(self, kind: str, spec: dict) -> Path:
        return self.root / kind / f"{spec_digest(spec, kind)}.pt"

    def load(self, kind: str, spec: dict) -> dict | None:
        """The cached object for `spec`, or None (absent, or found damaged and set aside)."""
        path = self._entry(kind, spec)
        with lock(path):
            return self._read(kind, path)

    def save(self, kind: str, spec: dict, obj: dict) -> None:
        path = self._entry(kind, spec)
        with lock(path):
            self._write(kind, path, spec, obj)

    def load_or_build(self, kind: str, spec: dict, build: Callable[[], dict]) -> tuple[dict, bool]:
        """(object, was_cached). Objects are dicts of tensors and plain values, loaded with
        `weights_only=True` so a cache file can never run code. Under the entry's lock, so
        parallel jobs that need the same entry build it once."""
        path = self._entry(kind, spec)
        with lock(path):
            found = self._read(kind, path)
            if found is not None:
                return found, True
            obj = build()
            self._write(kind, path, spec, obj)
            return obj, False

    def _entry(self, kind: str, spec: dict) -> Path:
        path = self.path(kind, spec)
        if path.parent not in self._opened:
            ensure_writable(path.parent)
            remove_stale_temp_files(path.parent)
            self._opened.add(path.parent)
        return path

    def _read(self, kind: str, path: Path) -> dict | None:
        if not os.path.lexists(path):
            return None
        try:
            return read_entry(path)
        except DamagedEntry as damage:
            self._set_aside(kind, path, str(damage))
            return None

    def _write(self, kind: str, path: Path, spec: dict, obj: dict) -> None:
        # A folder where a file goes cannot be replaced by a rename: set it aside first (a run
        # with reuse=false writes attributions and scores without reading them).
        for file in (path, sidecar_of(path)):
            if os.path.lexists(file) and not file.is_file():
                self._set_aside(kind, path, f"has a {file.suffix} that is not a file")
        write_entry(path, obj, spec)

    def _set_aside(self, kind: str, path: Path, problem: str) -> None:
        moved = quarantine(path)
        log.warning("cache: %s entry %s %s; moved to %s and recomputed", kind, path, problem, moved)


def lock(path: Path) -> FileLock:
    return FileLock(path.with_suffix(".lock"))


def ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # An unnamed file where the system allows it: a process killed here leaves nothing.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise XaibenchError(
            f"cache folder {folder} is not writable ({error.strerror}); set cache_dir=<folder> "
            "or the XAIBENCH_CACHE environment variable"
        ) from None


def remove_stale_temp_files(folder: Path) -> None:
    """Remove the temporary files that writes killed mid-way left in `folder`: those whose
    entry's lock is free (every write holds it, so no live process is writing them)."""
    for key, files in temp_files(folder).items():
        try:
            with FileLock(folder / f"{key}.lock", timeout=0):
                for file in files:
                    file.unlink(missing_ok=True)
        except Timeout:
            continue  # being written right now
