"""The explained inputs of a run, and what the run hands to methods and metrics about them.

Which test inputs a run explains is the run setting `subset` (`samples` of them, or all):

- `first`: the first `samples` of the test split, in the dataset's order (what xaibench did up to
  0.1.0, and the published studies). An ImageFolder with train/ and test/ lists its test split
  class by class, so the first inputs may all be of one class.
- `shuffled`: `samples` inputs drawn uniformly without replacement, seeded by the run seed.
- `stratified` (default): every class in proportion to its share of the test split (largest
  remainders, see `proportional_counts`), each class's inputs drawn seeded by the run seed.

Either way the chosen positions are explained in ascending order, and a larger `samples` with
the same seed keeps every input of a smaller one (the draws are prefixes of one permutation).

One evaluation can be split over `shards` jobs (`shard` = 0 .. shards - 1): the subset is
chosen first, as above, and shard j explains the j-th of `shards` consecutive, nearly equal
runs of it (`shard_range`), so the shards are disjoint and together are exactly the subset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from xaibench.data import Dataset
from xaibench.models import predict_classes
from xaibench.registry import XaibenchError

SUBSETS = ("first", "shuffled", "stratified")
ALL = "all"  # samples: all explains every input of the test split


@dataclass(frozen=True)
class Samples:
    """The explained test inputs on the run's device, with what is known about them."""

    index: torch.Tensor  # positions in the test split (CPU)
    inputs: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    targets: torch.Tensor  # the class explained and scored for each sample


def sample_count(samples: int | str, data: Dataset) -> int:
    """How many test inputs a run explains (`samples`: a count, or "all"); more than the test
    split holds is refused."""
    if samples == ALL:
        return len(data.x_test)
    assert isinstance(samples, int)  # read_settings allows a count or "all"
    if samples > len(data.x_test):
        raise XaibenchError(
            f"samples={samples} is more than the {len(data.x_test)} test inputs of dataset "
            f"{data.name}; choose samples <= {len(data.x_test)} (or samples=all)"
        )
    return samples


def proportional_counts(class_sizes: list[int], count: int) -> list[int]:
    """`count` split over classes in proportion to `class_sizes` (Hamilton's largest-remainder
    method): each class gets the whole part of its share `count * size / total`, and the
    inputs left over go one each to the largest remainders; equal remainders go to the larger
    class, then to the lower class index. Exact integer arithmetic, so no rounding decides."""
    total = sum(class_sizes)
    counts = [count * size // total for size in class_sizes]
    remainders = [count * size % total for size in class_sizes]
    order = sorted(range(len(class_sizes)), key=lambda c: (-remainders[c], -class_sizes[c], c))
    for c in order[: count - sum(counts)]:
        counts[c] += 1
    return counts


def subset_indices(labels: torch.Tensor, count: int, subset: str, seed: int) -> torch.Tensor:
    """Positions in the test split (labels: its labels) of the `count` explained inputs,
    ascending, chosen as `subset` says (see the module docstring)."""
    if subset == "first":
        return torch.arange(count)
    # One permutation of the whole split: a class's draws are the class's inputs in its
    # order, so the choice is reproducible and nested in `count`.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    if subset == "shuffled":
        chosen = order[:count]
    else:
        sizes = labels.bincount().tolist()
        ordered = labels[order]
        chosen = torch.cat([order[ordered == c][:k]
                            for c, k in enumerate(proportional_counts(sizes, count))])  # fmt: skip
    return chosen.sort().values


@dataclass(frozen=True)
class Shard:
    """A job's part of its evaluation: shard `shard` of `shards`, rows [start, stop) of the
    evaluation's `count` explained inputs, all of which `whole()` gives (built when asked: only
    a method whose maps depend on their batch needs them)."""

    shard: int
    shards: int
    start: int
    stop: int
    count: int
    whole: Callable[[], Samples]

    def record(self) -> dict:
        """meta.json's `explained.shard` (its `indices` are the shard's own)."""
        return {"shard": self.shard, "shards": self.shards, "rows": [self.start, self.stop],
                "of": self.count}  # fmt: skip


def shard_range(count: int, shard: int, shards: int) -> tuple[int, int]:
    """[start, stop) of shard `shard` of `shards` among `count` explained positions: consecutive
    runs whose sizes differ by at most one (the first `count % shards` are one longer). More
    shards than positions is refused, as a shard would explain nothing."""
    if shards > count:
        raise XaibenchError(
            f"shards={shards} is more than the {count} explained inputs (samples); choose "
            f"shards <= {count}"
        )
    size, longer = divmod(count, shards)
    start = shard * size + min(shard, longer)
    return start, start + size + (shard < longer)


# On the CPU a forward pass of fewer rows than this takes another kernel path and may round a
# logit's last bit differently (measured on the MNIST-1D CNN: 1 to 15 rows did, 16 or more did
# not); a shard this small may then not give one job's scores bit for bit.
SMALL_BATCH_ROWS = 16


def small_shard_warning(rows: int, shards: int, device: torch.device) -> str | None:
    """A line for a CPU shard of fewer than SMALL_BATCH_ROWS inputs, else None."""
    if shards == 1 or rows >= SMALL_BATCH_ROWS or device.type != "cpu":
        return None
    return (
        f"this shard explains {rows} inputs: on the CPU a forward pass of fewer than "
        f"{SMALL_BATCH_ROWS} rows may round differently, so its scores may differ from one "
        f"job's in the last bit; use shards <= samples / {SMALL_BATCH_ROWS} for exact equality"
    )


def select_samples(
    model: torch.nn.Module,
    data: Dataset,
    index: torch.Tensor,
    target: str,
    device: torch.device,
    batch_size: int,
) -> Samples:
    """The test inputs at `index`, their predictions and the classes to explain (`target`:
    the model's prediction or the label)."""
    inputs = data.x_test[index].to(device)
    labels = data.y_test[index].to(device)
    predicted = predict_classes(model, inputs, batch_size)
    targets = predicted if target == "predicted" else labels
    return Samples(index, inputs, labels, predicted, targets)


def run_context(data: Dataset, samples: Samples) -> dict:
    """What methods and metrics may ask for by parameter name (see registry.CONTEXT_PARAMS):
    the training inputs, and the explained samples' ground-truth masks where the dataset has
    them (on the samples' device)."""
    context = {"background": data.x_train}
    if data.masks_test is not None:
        context["masks"] = data.masks_test[samples.index].to(samples.inputs.device)
    return context


def underrepresented(per_class: list[int], test_per_class: list[int]) -> list[int]:
    """Classes of the test split with fewer than half of their share of the explained inputs,
    the share rounded down: share = samples x the class's fraction of the test split. So a
    class with a share of 1.6 is flagged when it has no input, one with a share of 10 when it
    has 4 or fewer; a class whose share is below 1 never is (too few samples for every class
    is not a lopsided choice). `stratified` never gives any (it gives each class at least its
    share rounded down)."""
    count, total = sum(per_class), sum(test_per_class)
    return [
        c
        for c, (explained, size) in enumerate(zip(per_class, test_per_class, strict=True))
        if 2 * explained < count * size // total
    ]


def explained_subset(
    samples: Samples, data: Dataset, subset: str, seed: int, evaluation: Tensor | None = None
) -> dict:
    """Which test inputs were explained and how they were chosen (meta.json's `explained`):
    the positions in the test split, the classes of the explained inputs and of the test split,
    and the under-represented classes (`underrepresented`). For a shard, `evaluation` holds the
    positions of the whole evaluation, whose classes (`evaluation_per_class`) `underrepresented`
    judges: a shard is a run of consecutive positions, lopsided in a test split sorted by class
    whatever the choice."""
    per_class = samples.labels.cpu().bincount(minlength=data.num_classes).tolist()
    test_per_class = data.y_test.bincount(minlength=data.num_classes).tolist()
    judged = per_class
    if evaluation is not None:
        judged = data.y_test[evaluation].bincount(minlength=data.num_classes).tolist()
    return {
        **({"evaluation_per_class": judged} if evaluation is not None else {}),
        "selection": subset,
        "seed": None if subset == "first" else seed,
        "count": len(samples.index),
        "of": len(data.x_test),
        "per_class": per_class,
        "test_per_class": test_per_class,
        "underrepresented": underrepresented(judged, test_per_class),
        "indices": samples.index.tolist(),
    }
