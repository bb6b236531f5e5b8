"""Progress bars that stay quiet where nobody watches them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], description: str, enabled: bool) -> Iterator[T]:
    """A tqdm bar over `items` when `enabled` and stderr is a terminal (not in CI or logs)."""
    return iter(tqdm(items, desc=description, disable=None if enabled else True, leave=False))
