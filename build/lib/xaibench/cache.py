"""Content-addressed cache for generated datasets, trained models, attributions and scores.

An entry's file name is a hash of what determines it: the spec (every argument of the
generator, the training run, the method or the metric) and the source code of the xaibench
modules that compute it, so neither a changed setting nor changed code can load a stale entry.
Writes are atomic and guarded by a file lock: parallel jobs that need the same entry build it
once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock

from xaibench.files import atomic_write, atomic_write_text
from xaibench.registry import XaibenchError

# Bump when the layout of cached objects changes, so old entries are not read.
CACHE_FORMAT = 1

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
    """`load_or_build(kind, spec, build)` returns the cached object for `spec`, building it once."""

    def __init__(self, root: str | os.PathLike = DEFAULT_CACHE_DIR):
        self.root = Path(root).expanduser()

    def path(self, kind: str, spec: dict) -> Path:
        return self.root / kind / f"{spec_digest(spec, kind)}.pt"

    def load(self, kind: str, spec: dict) -> dict | None:
        """The cached object for `spec`, or None."""
        path = self.path(kind, spec)
        if not path.exists():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, kind: str, spec: dict, obj: dict) -> None:
        path = self.path(kind, spec)
        self._ensure_writable(path.parent)
        atomic_write(path, lambda tmp: torch.save(obj, tmp))
        spec_text = json.dumps(spec, indent=2, sort_keys=True, default=str)
        atomic_write_text(path.with_suffix(".json"), spec_text)

    def load_or_build(self, kind: str, spec: dict, build: Callable[[], dict]) -> tuple[dict, bool]:
        """(object, was_cached). Objects are dicts of tensors and plain values, loaded with
        `weights_only=True` so a cache file can never run code."""
        path = self.path(kind, spec)
        self._ensure_writable(path.parent)
        with FileLock(path.with_suffix(".lock")):
            if path.exists():
                return torch.load(path, map_location="cpu", weights_only=True), True
            obj = build()
            self.save(kind, spec, obj)
            return obj, False

    def _ensure_writable(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise XaibenchError(
                f"cache folder {folder} is not writable ({error.strerror}); set cache_dir=<folder> "
                "or the XAIBENCH_CACHE environment variable"
            ) from None
