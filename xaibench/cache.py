"""Content-addressed cache for generated datasets and trained models.

An entry's file name is a hash of the spec that determines it (every argument of the
generator or the training run), so a changed setting can never load a stale entry. Writes are
atomic and guarded by a file lock: parallel jobs that need the same entry build it once.
"""

from __future__ import annotations

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


def spec_digest(spec: dict) -> str:
    canonical = json.dumps({"format": CACHE_FORMAT, **spec}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


class Cache:
    """`load_or_build(kind, spec, build)` returns the cached object for `spec`, building it once."""

    def __init__(self, root: str | os.PathLike = DEFAULT_CACHE_DIR):
        self.root = Path(root).expanduser()

    def path(self, kind: str, spec: dict) -> Path:
        return self.root / kind / f"{spec_digest(spec)}.pt"

    def load_or_build(self, kind: str, spec: dict, build: Callable[[], dict]) -> tuple[dict, bool]:
        """(object, was_cached). Objects are dicts of tensors and plain values, loaded with
        `weights_only=True` so a cache file can never run code."""
        path = self.path(kind, spec)
        self._ensure_writable(path.parent)
        with FileLock(path.with_suffix(".lock")):
            if path.exists():
                return torch.load(path, map_location="cpu", weights_only=True), True
            obj = build()
            atomic_write(path, lambda tmp: torch.save(obj, tmp))
            spec_text = json.dumps(spec, indent=2, sort_keys=True, default=str)
            atomic_write_text(path.with_suffix(".json"), spec_text)
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
