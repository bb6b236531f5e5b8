"""The stages of a run: each one timed, its model inputs counted, served from the cache where
the same work was done before, and, for methods and metrics, its failure recorded without
losing the others.

    stages = Stages(cache, reuse=True)
    maps = stages.attempt("explain/saliency", compute, Failure("explain", "saliency"),
                          model=model, samples=100, cache_entry=("attributions", spec))

`stages.records` (seconds, samples, cached per stage; forwards and backwards: the model inputs
run forward and backward, on the model and on copies of it; reused: the forwards whose results
the stage took from another stage's identical work) and `stages.errors` go to meta.json and the
run's summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from xaibench.cache import Cache
from xaibench.counting import count_forwards

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """Where a failure is recorded: the stage kind (explain, evaluate) and the method and/or
    metric that failed."""

    stage: str
    method: str | None = None
    metric: str | None = None

    def record(self, error: Exception) -> dict:
        return {
            "stage": self.stage,
            "method": self.method,
            "metric": self.metric,
            "error": f"{type(error).__name__}: {error}",
        }


class Stages:
    """Runs stages and keeps their records and failures (see the module docstring)."""

    def __init__(self, cache: Cache, reuse: bool = True):
        self.cache = cache
        self.reuse = reuse
        self.records: dict[str, dict] = {}
        self.errors: list[dict] = []

    def run(
        self,
        name: str,
        compute: Callable[[dict], T],
        *,
        model: nn.Module | None = None,
        samples: int | None = None,
        cache_entry: tuple[str, dict] | None = None,
    ) -> T:
        """`compute(record)` as stage `name`: timed, with the inputs run through `model`
        counted. With `cache_entry` = (kind, spec) the result (a dict of tensors) is loaded
        from the cache when `reuse` allows and saved after computing. `compute` may set
        `record["cached"]` itself (a stage of several cache entries), and `record["reused"]`
        (the forwards it did not run because shared work held their results)."""
        record = {
            "seconds": 0.0, "samples": samples, "forwards": 0, "backwards": 0, "reused": 0,
            "cached": False,
        }  # fmt: skip
        started = time.perf_counter()
        counting = count_forwards(model) if model is not None else nullcontext()
        counter = None
        try:
            with counting as counter:
                if cache_entry is None:
                    return compute(record)
                return self.cached(*cache_entry, lambda: compute(record), record)
        finally:
            record["seconds"] = round(time.perf_counter() - started, 3)
            record["forwards"] = counter.inputs if counter is not None else 0
            record["backwards"] = counter.backwards if counter is not None else 0
            self.records[name] = record

    def attempt(
        self, name: str, compute: Callable[[dict], T], failure: Failure, **options: Any
    ) -> T | None:
        """`run` (with the same `options`), an exception recorded as `failure` and None
        returned: one failing method or metric must not lose the others."""
        with self.failures(failure):
            return self.run(name, compute, **options)
        return None

    def cached(self, kind: str, spec: dict, compute: Callable[[], Any], record: dict) -> Any:
        """The cache entry `spec` of `kind` if reuse allows and it is there intact (the cache
        sets a damaged one aside), else `compute()`, saved for the next run."""
        found = self.cache.load(kind, spec) if self.reuse else None
        if found is not None:
            record["cached"] = True
            return found
        value = compute()
        self.cache.save(kind, spec, value)
        return value

    def failures(self, failure: Failure):
        """A block whose exception is recorded as `failure` and does not propagate."""
        return failures_recorded(self.errors, failure)


@contextmanager
def failures_recorded(errors: list[dict], failure: Failure | None) -> Iterator[None]:
    """Record an exception of the block in `errors` (one failing method or metric must not
    lose the others); without a `failure`, let it propagate."""
    if failure is None:
        yield
        return
    try:
        yield
    except Exception as error:
        errors.append(failure.record(error))
