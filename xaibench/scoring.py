"""Every method's maps and every metric's scores for a run's samples, each cached by what
determines it, each method and metric failing alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from xaibench.cache import spec_digest, tensor_digest
from xaibench.methods import METHODS, explain_in_batches
from xaibench.metrics import METRICS, MetricResult, evaluate_many
from xaibench.metrics.sharing import SharedWork, sharing
from xaibench.plugins import referenced_methods
from xaibench.progress import progress
from xaibench.provenance import versions
from xaibench.registry import context_for
from xaibench.samples import Samples, Shard
from xaibench.settings import Entry
from xaibench.stages import Failure, Stages

# Packages whose version can change attributions or scores: part of every cache key.
COMPUTING_PACKAGES = ("torch", "torchvision", "captum", "zennit", "numpy", "scipy")


class CacheKeys:
    """Cache specs of a run's attributions and scores: everything that determines them (the
    cache adds the digest of the code that computes them)."""

    def __init__(self, model_key: str, samples: Samples, context: dict):
        self.context = context
        self.base = {
            "model": model_key,
            "inputs": tensor_digest(samples.inputs, samples.targets),
            "versions": {k: v for k, v in versions().items() if k in COMPUTING_PACKAGES},
        }
        self._context_digests: dict[str, str] = {}
        self._attribution_specs: dict[str, dict] = {}

    def _digests(self, extra: dict) -> dict[str, str]:
        for key, value in extra.items():
            if key not in self._context_digests:
                self._context_digests[key] = tensor_digest(value)
        return {key: self._context_digests[key] for key in extra}

    def attributions(self, entry: Entry, extra: dict, within: dict | None = None) -> dict:
        """Spec of one method's maps; `within`: the whole evaluation and the shard's rows, for
        a method whose maps depend on their batch, explained over the whole evaluation."""
        spec = {
            **self.base,
            "method": entry.name,
            "params": entry.params,
            "context": self._digests(extra),
            **user_code(entry),
            **({"within": within} if within else {}),
        }
        self._attribution_specs[entry.label] = spec
        return spec

    def scores(self, entry: Entry, extra: dict, method: str) -> dict:
        """Spec of one metric's scores for the attributions of method `method` (a label)."""
        return {
            **self.base,
            "metric": entry.name,
            "params": entry.params,
            "context": self._digests(extra),
            "attributions": spec_digest(self._attribution_specs[method], "attributions"),
            **user_code(entry),
        }


def batch_invariant(entry: Entry) -> bool:
    """Whether a sample's map from `entry` does not depend on its batch: neither the method
    nor a method it wraps (`smooth`, `postprocess`) is declared batch-dependent."""
    names = [entry.name, *referenced_methods(entry.params)]
    return all(METHODS[name].batch_invariant for name in names if name in METHODS)


def user_code(entry: Entry) -> dict:
    """The versions of the user's functions an entry runs (plug-ins), for its cache keys: an
    edited plug-in is computed anew. Empty for xaibench's own, whose keys stay as they were
    (the cache adds xaibench's source itself)."""
    return {"user_code": entry.code} if entry.code else {}


def explain_all(
    model: nn.Module,
    samples: Samples,
    methods: dict[str, Entry],
    keys: CacheKeys,
    stages: Stages,
    batch_size: int,
    show_progress: bool = False,
    shard: Shard | None = None,
) -> dict[str, Tensor]:
    """Every method's attributions by label, explained `batch_size` samples at a time, or
    reused from the cache; a failing method is recorded and left out.

    In a shard of an evaluation (`shard`), a method whose maps depend on their batch is
    explained over the whole evaluation's inputs, batched as one job would, and the shard's
    rows kept: a sample gets the map it gets in one job."""
    attributions = {}
    for label, entry in progress(methods.items(), "explaining", show_progress):
        extra = context_for(METHODS[entry.name].fn, keys.context)
        params = {**entry.params, **extra}
        whole = shard if shard and shard.shards > 1 and not batch_invariant(entry) else None

        def compute(
            record: dict, name: str = entry.name, params: dict = params, whole: Shard | None = whole
        ) -> dict:
            explained = whole.whole() if whole else samples
            maps = explain_in_batches(
                model, explained.inputs, explained.targets, name, params, batch_size
            )
            # A copy: a view would keep (and the cache would store) the whole evaluation's maps.
            return {"attributions": maps[whole.start : whole.stop].clone() if whole else maps}

        within = None
        if whole:
            evaluation = whole.whole()
            within = {"evaluation": tensor_digest(evaluation.inputs, evaluation.targets),
                      "rows": [whole.start, whole.stop], "batch_size": batch_size}  # fmt: skip
        spec = keys.attributions(entry, extra, within)
        found = stages.attempt(
            f"explain/{label}", compute, Failure("explain", method=label), model=model,
            samples=len(samples.index), cache_entry=("attributions", spec),
        )  # fmt: skip
        if found is not None:
            attributions[label] = found["attributions"].to(samples.inputs.device)
    return attributions


def score_all(
    model: nn.Module,
    samples: Samples,
    attributions: dict[str, Tensor],
    metrics: dict[str, Entry],
    methods: dict[str, Entry],
    keys: CacheKeys,
    stages: Stages,
    show_progress: bool = False,
) -> dict[str, dict[str, MetricResult]]:
    """Every metric's results for every method's maps, as results[metric][method] (labels);
    results in the cache (same attributions, metric and settings) are reused. Work that two
    metrics would repeat is done once (metrics/sharing.py): each stage records the forwards it
    took from another stage's work as `reused`."""
    results = {}
    with sharing() as work:
        for label, entry in progress(metrics.items(), "scoring", show_progress):

            def compute(record: dict, entry: Entry = entry) -> dict[str, MetricResult]:
                with reused(work, record):
                    return score_metric(
                        model, samples, attributions, entry, methods, keys, stages, record
                    )

            scored = stages.attempt(
                f"evaluate/{label}", compute, Failure("evaluate", metric=label), model=model,
                samples=len(samples.index),
            )  # fmt: skip
            if scored is not None:
                results[label] = scored
    return results


@contextmanager
def reused(work: SharedWork, record: dict) -> Iterator[None]:
    """Record in `record["reused"]` the forwards the block took from shared work."""
    before = work.reused_forwards
    try:
        yield
    finally:
        record["reused"] = work.reused_forwards - before


def score_metric(
    model: nn.Module,
    samples: Samples,
    attributions: dict[str, Tensor],
    entry: Entry,
    methods: dict[str, Entry],
    keys: CacheKeys,
    stages: Stages,
    record: dict,
) -> dict[str, MetricResult]:
    """One metric's results by method: cached ones loaded, the others computed together where
    the metric allows (one method failing there loses only its own scores)."""
    info = METRICS[entry.name]
    extra = context_for(info.score_many, keys.context)
    specs = {method: keys.scores(entry, extra, method) for method in attributions}
    found = {}
    if stages.reuse:
        for method, spec in specs.items():
            if (cached := stages.cache.load("scores", spec)) is not None:
                found[method] = MetricResult(**cached)
    todo = [method for method in attributions if method not in found]
    params = {**entry.params, **extra}
    fresh = {}
    if todo and not info.reexplains:
        maps = [attributions[method] for method in todo]
        scored = evaluate_many(model, samples.inputs, samples.targets, maps, entry.name, **params)
        fresh = dict(zip(todo, scored, strict=True))
    # Robustness and randomisation metrics re-explain each method's maps with that method's
    # own registered name and settings.
    for method in todo if info.reexplains else []:
        with stages.failures(Failure("evaluate", method=method, metric=entry.label)):
            fresh[method] = evaluate_many(
                model, samples.inputs, samples.targets, [attributions[method]], entry.name,
                **params, method=methods[method].name, method_params=methods[method].params,
            )[0]  # fmt: skip
    for method, result in fresh.items():
        stages.cache.save("scores", specs[method], vars(result))
    record["cached"] = not todo
    return {method: found.get(method) or fresh[method] for method in attributions
            if method in found or method in fresh}  # fmt: skip
