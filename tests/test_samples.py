"""The explained subset: which test inputs a run explains (`subset`, `samples`), what meta.json
and the summary say about it, and that no other subset's cached maps or scores are reused."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch

from tests.helpers import compose_config
from xaibench.data import Dataset
from xaibench.registry import XaibenchError
from xaibench.report.run_summary import lopsided_warning
from xaibench.run import run
from xaibench.samples import (
    SUBSETS,
    Samples,
    explained_subset,
    proportional_counts,
    shard_range,
    small_shard_warning,
    subset_indices,
    underrepresented,
)
from xaibench.scoring import CacheKeys
from xaibench.settings import Entry

# A test split sorted by class, as an ImageFolder's test/ folder gives it: 10, 6, 3, 1 inputs.
SORTED = torch.tensor([0] * 10 + [1] * 6 + [2] * 3 + [3] * 1)


@pytest.mark.parametrize(
    ("sizes", "count", "expected"),
    [
        ([10, 6, 3, 1], 10, [5, 3, 2, 0]),  # shares 5, 3, 1.5, 0.5: the larger class gets the tie
        ([50, 30, 20], 10, [5, 3, 2]),  # exact shares
        ([7, 5, 3], 4, [2, 1, 1]),  # shares 1.87, 1.33, 0.8: remainders 13, 5, 12 (of 15)
        ([3, 3, 3, 1], 5, [2, 2, 1, 0]),  # equal remainders and sizes: the lower class index
        ([10, 6, 3, 1], 20, [10, 6, 3, 1]),  # all of them
        ([10, 6, 3, 1], 1, [1, 0, 0, 0]),
    ],
)
def test_proportional_counts_are_the_largest_remainder_allocation(sizes, count, expected):
    assert proportional_counts(sizes, count) == expected


def test_stratified_draws_each_class_its_proportional_count():
    for count in range(1, len(SORTED) + 1):
        index = subset_indices(SORTED, count, "stratified", seed=0)
        assert index.tolist() == sorted(set(index.tolist()))  # distinct, ascending
        drawn = SORTED[index].bincount(minlength=4).tolist()
        assert drawn == proportional_counts([10, 6, 3, 1], count)
    # samples=10 takes the 5, 3, 2, 0 worked out by hand above, never the first 10 (class 0).
    assert SORTED[subset_indices(SORTED, 10, "stratified", seed=0)].tolist() == (
        [0] * 5 + [1] * 3 + [2] * 2
    )


@pytest.mark.parametrize("subset", ["shuffled", "stratified"])
def test_a_seeded_subset_is_reproducible_differs_by_seed_and_grows_by_adding(subset):
    labels = torch.arange(200) % 7
    first = subset_indices(labels, 30, subset, seed=1)
    assert torch.equal(first, subset_indices(labels, 30, subset, seed=1))
    assert not torch.equal(first, subset_indices(labels, 30, subset, seed=2))
    # A larger subset with the same seed keeps every input of a smaller one.
    assert set(first.tolist()) <= set(subset_indices(labels, 60, subset, seed=1).tolist())


def test_first_is_the_old_behaviour_and_all_is_every_index_whatever_the_choice():
    assert subset_indices(SORTED, 7, "first", seed=3).tolist() == list(range(7))
    for subset in SUBSETS:
        assert subset_indices(SORTED, len(SORTED), subset, seed=3).tolist() == list(range(20))


def test_underrepresented_classes_are_those_with_less_than_half_their_share():
    # 10 of 20 inputs: shares 5, 3, 1.5, 0.5 (rounded down: 5, 3, 1, 0).
    assert underrepresented([5, 3, 2, 0], [10, 6, 3, 1]) == []  # stratified
    assert underrepresented([10, 0, 0, 0], [10, 6, 3, 1]) == [1, 2]  # the first 10
    assert underrepresented([7, 1, 1, 1], [10, 6, 3, 1]) == [1]  # 1 < 3 / 2
    assert underrepresented([6, 2, 1, 1], [10, 6, 3, 1]) == []  # 2 >= 3 / 2
    # Stratified never gives any, whatever the class sizes and count.
    generator = torch.Generator().manual_seed(0)
    for trial in range(50):
        labels = torch.randint(0, 6, (int(torch.randint(6, 300, (1,), generator=generator)),),
                               generator=generator)  # fmt: skip
        count = int(torch.randint(1, len(labels) + 1, (1,), generator=generator))
        index = subset_indices(labels, count, "stratified", seed=trial)
        sizes = labels.bincount(minlength=6).tolist()
        assert underrepresented(labels[index].bincount(minlength=6).tolist(), sizes) == []


def sorted_split_samples(subset: str, count: int) -> tuple[Samples, Dataset]:
    x = torch.arange(len(SORTED), dtype=torch.float32).view(-1, 1, 1)
    data = Dataset("sorted", x, SORTED, x, SORTED, 4)
    index = subset_indices(SORTED, count, subset, seed=0)
    labels = SORTED[index]
    return Samples(index, x[index], labels, labels, labels), data


def test_meta_records_the_choice_and_the_summary_warns_when_classes_are_lopsided():
    samples, data = sorted_split_samples("first", 10)
    explained = explained_subset(samples, data, "first", seed=0)
    assert explained == {
        "selection": "first", "seed": None, "count": 10, "of": 20,
        "per_class": [10, 0, 0, 0], "test_per_class": [10, 6, 3, 1],
        "underrepresented": [1, 2], "indices": list(range(10)),
    }  # fmt: skip
    assert lopsided_warning(explained) == (
        "LOPSIDED EXPLAINED CLASSES: of the 10 explained inputs (subset=first), class 1 has 0 "
        "(its share: 3.0); class 2 has 0 (its share: 1.5): less than half their share of the "
        "test split, so the scores speak mostly for the other classes (subset=stratified "
        "explains every class in proportion)"
    )
    samples, data = sorted_split_samples("stratified", 10)
    explained = explained_subset(samples, data, "stratified", seed=0)
    assert explained["per_class"] == [5, 3, 2, 0] and explained["seed"] == 0
    assert explained["indices"] == samples.index.tolist()
    assert lopsided_warning(explained) is None
    # Run folders written before xaibench recorded the subset have no warning.
    assert lopsided_warning({"selection": "first", "count": 10, "per_class": [10, 0]}) is None


def test_a_shard_of_a_stratified_subset_is_judged_by_its_whole_evaluation():
    """A shard of a class-sorted split holds one class or two, by design: not lopsided while
    the evaluation it belongs to is not; a shard of a lopsided one warns about the evaluation."""
    samples, data = sorted_split_samples("stratified", 10)
    shard = Samples(*(t[:3] for t in vars(samples).values()))  # the first 3 rows of 10
    explained = explained_subset(shard, data, "stratified", 0, evaluation=samples.index)
    assert explained["per_class"] == [3, 0, 0, 0] and explained["count"] == 3
    assert explained["evaluation_per_class"] == [5, 3, 2, 0]
    assert explained["underrepresented"] == [] and lopsided_warning(explained) is None
    samples, data = sorted_split_samples("first", 10)
    shard = Samples(*(t[5:] for t in vars(samples).values()))
    explained = explained_subset(shard, data, "first", 0, evaluation=samples.index)
    explained["shard"] = {"shard": 1, "shards": 2, "rows": [5, 10], "of": 10}
    assert explained["underrepresented"] == [1, 2]
    assert lopsided_warning(explained).startswith(  # type: ignore[union-attr]
        "LOPSIDED EXPLAINED CLASSES: of the 10 explained inputs (subset=first), class 1 has 0 "
        "(its share: 3.0); class 2 has 0 (its share: 1.5)"
    )


@pytest.mark.parametrize("count", [1, 2, 5, 16, 17, 500])
def test_shards_split_the_subset_into_consecutive_disjoint_runs_that_cover_it(count):
    for shards in sorted({1, 2, 3, 7, count} & set(range(1, count + 1))):
        rows = [shard_range(count, shard, shards) for shard in range(shards)]
        assert rows[0][0] == 0 and rows[-1][1] == count
        assert all(stop == start for (_, stop), (start, _) in pairwise(rows))
        sizes = [stop - start for start, stop in rows]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)  # the longer ones first
    assert [shard_range(16, s, 3) for s in range(3)] == [(0, 6), (6, 11), (11, 16)]


def test_more_shards_than_explained_inputs_are_refused():
    with pytest.raises(XaibenchError) as excinfo:
        shard_range(5, 0, 6)
    assert str(excinfo.value) == (
        "shards=6 is more than the 5 explained inputs (samples); choose shards <= 5"
    )


def test_cache_keys_tell_subsets_apart():
    """The maps' and scores' cache keys hold a digest of the explained inputs and targets: other
    inputs, or the same inputs in another order, never reuse an entry."""
    x = torch.randn(6, 1, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1, 0, 1])

    def spec(index: list[int]) -> dict:
        i = torch.tensor(index)
        keys = CacheKeys("model", Samples(i, x[i], y[i], y[i], y[i]), {})
        return keys.attributions(Entry("saliency", "saliency", {}), {})

    assert spec([0, 1, 2]) == spec([0, 1, 2])
    assert spec([0, 1, 2]) != spec([0, 1, 3])
    assert spec([0, 1, 2]) != spec([1, 0, 2])


def test_a_run_explains_the_chosen_subset_and_reuses_only_its_own_cache_entries(tmp_path):
    base = ["debug=fast", f"cache_dir={tmp_path}", "method=[saliency]", "metric=[deletion]",
            "samples=20"]  # fmt: skip
    stratified = run(compose_config(*base))  # the default
    explained = stratified.meta["explained"]
    assert explained["selection"] == "stratified" and explained["underrepresented"] == []
    assert sorted(set(stratified.scores["sample"])) == explained["indices"]
    assert explained["per_class"] == proportional_counts(explained["test_per_class"], 20)
    shuffled = run(compose_config(*base, "subset=shuffled"))
    assert shuffled.meta["explained"]["indices"] != explained["indices"]
    assert shuffled.meta["stages"]["explain/saliency"]["cached"] is False
    assert shuffled.meta["stages"]["evaluate/deletion"]["cached"] is False
    again = run(compose_config(*base))
    assert again.meta["stages"]["explain/saliency"]["cached"] is True
    assert again.scores["value"].tolist() == stratified.scores["value"].tolist()
    every = run(compose_config(*base[:-1], "samples=all"))
    assert every.meta["explained"]["indices"] == list(range(200))  # debug=fast: 200 test inputs
    assert every.meta["samples"] == 200


def test_a_cpu_shard_of_fewer_than_16_inputs_is_warned_about_rounding():
    cpu = torch.device("cpu")
    line = small_shard_warning(5, 3, cpu)
    assert line is not None and "explains 5 inputs" in line and "shards <= samples / 16" in line
    assert small_shard_warning(16, 3, cpu) is None  # 16 rows: one job's numbers bit for bit
    assert small_shard_warning(5, 1, cpu) is None  # not sharded: nothing to compare with
    assert small_shard_warning(5, 3, torch.device("cuda")) is None  # measured on the CPU only
