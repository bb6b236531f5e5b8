"""One cache entry on disk, written with its content hash and checked on every read.

An entry is two files: `<key>.pt`, the object as torch.save wrote it (a plain file that
`torch.load` reads), and its sidecar `<key>.json`, which holds the entry's key, the size and
sha256 of the .pt's bytes, and the spec it was computed from (for people). Both are renamed
into place whole, the sidecar first, so a .pt is never in place without a hash to check it.

A read checks, before loading a byte into torch: the .pt is a regular file, the sidecar names
this entry (not another entry's pair copied over it), and the size and sha256 match. Whatever
fails raises `DamagedEntry` with what was wrong, in words; the cache then moves the files aside
(`quarantine`) and recomputes the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path

import torch

from xaibench.files import atomic_write, atomic_write_text

QUARANTINE = "quarantine"  # the folder, inside each kind's folder, that damaged entries go to


class DamagedEntry(Exception):
    """An entry that cannot be trusted; the message says why (e.g. "is empty")."""


def sidecar_of(path: Path) -> Path:
    return path.with_suffix(".json")


def sha256_of(file) -> str:
    return hashlib.file_digest(file, "sha256").hexdigest()


def write_entry(path: Path, obj: dict, spec: dict) -> None:
    """Write `obj` to `path` and its sidecar, hashing the bytes exactly as they were written."""

    def write(tmp: Path) -> None:
        torch.save(obj, tmp)
        with tmp.open("rb") as file:
            record = {
                "key": path.stem,
                "bytes": os.fstat(file.fileno()).st_size,
                "sha256": sha256_of(file),
                "spec": spec,
            }
        # Before the .pt's rename: a process killed in between leaves a sidecar without its
        # .pt (an absent entry) or beside the .pt it replaces (which then fails the check and
        # is recomputed), never a .pt without the hash that checks it.
        text = json.dumps(record, indent=2, sort_keys=True, default=str)
        atomic_write_text(sidecar_of(path), text)

    atomic_write(path, write)


def read_entry(path: Path) -> dict:
    """The object of the entry at `path` (which exists), checked against its sidecar; raises
    `DamagedEntry` saying what is wrong."""
    if not path.is_file():
        raise DamagedEntry("is a directory, not a file" if path.is_dir() else "is not a file")
    record = read_sidecar(path)
    # One open file for the checks and the load: what is loaded is what was checked.
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size != record["bytes"]:
            raise DamagedEntry(size_problem(size, record["bytes"]))
        digest = sha256_of(file)
        if digest != record["sha256"]:
            raise DamagedEntry(
                f"has other bytes than were written (sha256 {digest[:12]}, written "
                f"{record['sha256'][:12]}): overwritten, or another entry's file"
            )
        file.seek(0)
        try:
            obj = torch.load(file, map_location="cpu", weights_only=True)
        except MemoryError:
            raise
        except Exception as error:  # the bytes are intact, but this torch cannot read them
            raise DamagedEntry(f"cannot be loaded ({one_line(error)})") from None
    if not isinstance(obj, dict):
        raise DamagedEntry(f"holds a {type(obj).__name__}, not a dict")
    return obj


def read_sidecar(path: Path) -> dict:
    sidecar = sidecar_of(path)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedEntry(f"has no sidecar {sidecar.name} with its hash") from None
    except (OSError, ValueError) as error:
        raise DamagedEntry(
            f"has an unreadable sidecar {sidecar.name} ({one_line(error)})"
        ) from None
    if not isinstance(record, dict) or not {"key", "bytes", "sha256"} <= record.keys():
        raise DamagedEntry(f"has a sidecar {sidecar.name} without its key, size and hash")
    if record["key"] != path.stem:
        raise DamagedEntry(f"has the sidecar of entry {record['key']}: files of another entry")
    return record


def one_line(error: Exception, limit: int = 200) -> str:
    """The error in one short line: the problem goes in one log line (torch's weights_only
    errors run to many lines)."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def size_problem(size: int, written: int) -> str:
    if size == 0:
        return f"is empty (0 bytes, {written} were written)"
    if size < written:
        return f"is truncated ({size} bytes of {written})"
    return f"has {size} bytes, {written} were written"


def quarantine(path: Path) -> Path:
    """Move the entry at `path` and its sidecar (whichever exist, files or not) into the kind's
    quarantine folder, under names no other quarantined entry has; returns the new .pt path."""
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    # The time says when; the random part keeps two quarantines of one entry apart.
    stem = f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    for file in (path, sidecar_of(path)):
        if os.path.lexists(file):
            os.replace(file, folder / f"{stem}{file.suffix}")
    return folder / f"{stem}{path.suffix}"


def temp_files(folder: Path) -> dict[str, list[Path]]:
    """The temporary files of `folder` (atomic_write names them `.<key>.<suffix>.<random>.tmp`),
    by the key of the entry they were written for."""
    found: dict[str, list[Path]] = {}
    for tmp in folder.glob(".*.tmp"):
        found.setdefault(tmp.name[1:].split(".", 1)[0], []).append(tmp)
    return found
