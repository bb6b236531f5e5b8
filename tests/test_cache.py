"""The cache checks what it reads: every fault of the reliability campaign (truncated, emptied,
overwritten bytes, two entries swapped, an entry replaced by a folder) is reported in one log
line naming the entry, moved to quarantine and recomputed, on Cache itself and through whole
runs, for every kind of entry; temporary files of killed writes are removed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
import torch
from filelock import FileLock

from tests.helpers import compose_config
from xaibench.cache import CACHE_FORMAT, Cache
from xaibench.cache_entries import QUARANTINE, read_entry, write_entry
from xaibench.data import load_dataset
from xaibench.models import ModelSpec, accuracy, get_model
from xaibench.run import run

KINDS = ("datasets", "models", "attributions", "scores")


# --- the faults, each applied to the .pt of an entry --------------------------------------------


def truncate(path: Path, other: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def zero_length(path: Path, other: Path) -> None:
    os.truncate(path, 0)


def flip_bytes(path: Path, other: Path) -> None:
    """16 bytes in the middle complemented (the campaign overwrote 16 bytes of a model)."""
    with path.open("r+b") as file:
        file.seek(path.stat().st_size // 2)
        chunk = file.read(16)
        file.seek(-len(chunk), os.SEEK_CUR)
        file.write(bytes(b ^ 0xFF for b in chunk))


def swap(path: Path, other: Path) -> None:
    """Exchange the bytes of two entries (their sidecars stay)."""
    mine, theirs = path.read_bytes(), other.read_bytes()
    path.write_bytes(theirs)
    other.write_bytes(mine)


def directory(path: Path, other: Path) -> None:
    path.unlink()
    (path / "inside").mkdir(parents=True)


FAULTS = {
    "truncated": truncate,
    "zero-length": zero_length,
    "flipped bytes": flip_bytes,
    "swapped": swap,
    "a directory": directory,
}
PROBLEMS = {  # what the log line says about each fault
    "truncated": "is truncated",
    "zero-length": "is empty",
    "flipped bytes": "has other bytes than were written",
    "swapped": "has other bytes than were written",
    "a directory": "is a directory",
}


def quarantined(path: Path) -> list[str]:
    """The suffixes of the files of entry `path` in its kind's quarantine folder."""
    folder = path.parent / QUARANTINE
    return sorted(p.suffix for p in folder.glob(f"{path.stem}.*")) if folder.exists() else []


def cache_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "xaibench.cache"]


# --- Cache itself --------------------------------------------------------------------------------


def entry(value: float) -> dict:
    return {"weights": torch.full((64, 64), value), "accuracy": value}


@pytest.fixture
def two_entries(tmp_path):
    cache = Cache(tmp_path)
    for value in (1.0, 2.0):
        cache.save("models", {"v": value}, entry(value))
    return cache


def test_an_entry_is_written_with_the_size_and_sha256_of_its_bytes(tmp_path):
    cache = Cache(tmp_path)
    cache.save("models", {"v": 1}, entry(1.0))
    path = cache.path("models", {"v": 1})
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["key"] == path.stem
    assert sidecar["bytes"] == path.stat().st_size
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["spec"] == {"v": 1}
    # a plain torch.save file: readable without xaibench
    assert torch.equal(torch.load(path, weights_only=True)["weights"], entry(1.0)["weights"])
    assert torch.equal(cache.load("models", {"v": 1})["weights"], entry(1.0)["weights"])


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_entry_is_reported_in_one_line_quarantined_and_rebuilt(
    fault, two_entries, caplog
):
    cache = two_entries
    path, other = cache.path("models", {"v": 1.0}), cache.path("models", {"v": 2.0})
    FAULTS[fault](path, other)
    built = []

    def build() -> dict:
        built.append(1)
        return entry(1.0)

    caplog.set_level(logging.WARNING)
    obj, cached = cache.load_or_build("models", {"v": 1.0}, build)
    assert not cached and built == [1]
    assert torch.equal(obj["weights"], entry(1.0)["weights"])
    (line,) = cache_lines(caplog)
    assert f"models entry {path} {PROBLEMS[fault]}" in line
    assert quarantined(path) == [".json", ".pt"]
    assert read_entry(path)["accuracy"] == 1.0  # rebuilt whole, with a fresh hash
    assert cache.load_or_build("models", {"v": 1.0}, build)[1] and built == [1]


@pytest.mark.parametrize("fault", FAULTS)
def test_load_returns_none_for_a_damaged_entry_and_sets_it_aside(fault, two_entries, caplog):
    cache = two_entries
    path, other = cache.path("models", {"v": 1.0}), cache.path("models", {"v": 2.0})
    FAULTS[fault](path, other)
    caplog.set_level(logging.WARNING)
    assert cache.load("models", {"v": 1.0}) is None
    (line,) = cache_lines(caplog)
    assert str(path) in line and PROBLEMS[fault] in line and QUARANTINE in line
    assert not os.path.lexists(path) and quarantined(path) == [".json", ".pt"]


def test_two_entries_swapped_with_their_sidecars_are_both_caught(two_entries, caplog):
    cache = two_entries
    first, second = cache.path("models", {"v": 1.0}), cache.path("models", {"v": 2.0})
    for suffix in (".pt", ".json"):
        a, b = first.with_suffix(suffix), second.with_suffix(suffix)
        os.replace(a, a.with_name("x")), os.replace(b, a), os.replace(a.with_name("x"), b)
    caplog.set_level(logging.WARNING)
    assert cache.load("models", {"v": 1.0}) is None
    assert cache.load("models", {"v": 2.0}) is None
    assert [line.split(" has the sidecar of entry ")[1][:20] for line in cache_lines(caplog)] == [
        second.stem,
        first.stem,
    ]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda sidecar: sidecar.unlink(), "has no sidecar"),
        (lambda sidecar: sidecar.write_text("{not json"), "has an unreadable sidecar"),
        # what an entry of the previous layout had: the spec alone
        (lambda sidecar: sidecar.write_text('{"v": 1.0}'), "without its key, size and hash"),
    ],
)
def test_an_entry_without_a_trustworthy_sidecar_is_not_read(damage, problem, two_entries, caplog):
    cache = two_entries
    path = cache.path("models", {"v": 1.0})
    damage(path.with_suffix(".json"))
    caplog.set_level(logging.WARNING)
    assert cache.load("models", {"v": 1.0}) is None
    (line,) = cache_lines(caplog)
    assert problem in line and str(path) in line


def test_intact_bytes_that_torch_cannot_load_or_that_are_no_dict_are_set_aside(tmp_path, caplog):
    cache = Cache(tmp_path)
    cache.save("scores", {"v": 1}, entry(1.0))
    path = cache.path("scores", {"v": 1})
    write_entry(path, [1, 2], {"v": 1})  # a list, written with its hash
    not_a_zip = cache.path("scores", {"v": 2})
    not_a_zip.write_bytes(b"not a torch file")
    sidecar = {
        "key": not_a_zip.stem,
        "bytes": 16,
        "sha256": hashlib.sha256(b"not a torch file").hexdigest(),
    }
    not_a_zip.with_suffix(".json").write_text(json.dumps(sidecar))
    caplog.set_level(logging.WARNING)
    assert cache.load("scores", {"v": 1}) is None and cache.load("scores", {"v": 2}) is None
    holds_list, unloadable = cache_lines(caplog)
    assert f"scores entry {path} holds a list, not a dict" in holds_list
    assert f"scores entry {not_a_zip} cannot be loaded (" in unloadable
    assert "\n" not in unloadable and len(unloadable) < 600


def test_a_bad_entry_quarantined_twice_keeps_both_copies(two_entries):
    cache = two_entries
    path = cache.path("models", {"v": 1.0})
    for _ in range(2):
        zero_length(path, path)
        assert cache.load("models", {"v": 1.0}) is None
        cache.save("models", {"v": 1.0}, entry(1.0))
    assert quarantined(path) == [".json", ".json", ".pt", ".pt"]


def test_saving_over_a_directory_sets_it_aside(tmp_path, caplog):
    """A run with reuse=false writes attributions and scores without reading them first."""
    cache = Cache(tmp_path)
    path = cache.path("scores", {"v": 1})
    (path / "inside").mkdir(parents=True)
    caplog.set_level(logging.WARNING)
    cache.save("scores", {"v": 1}, entry(1.0))
    assert read_entry(path)["accuracy"] == 1.0
    (line,) = cache_lines(caplog)
    assert f"scores entry {path}" in line and quarantined(path) == [".pt"]


def test_a_write_killed_before_its_rename_leaves_an_absent_entry(tmp_path, monkeypatch, caplog):
    """The sidecar is renamed into place before the .pt: never a .pt without its hash."""
    cache = Cache(tmp_path)
    path = cache.path("models", {"v": 1})
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".pt"):
            raise KeyboardInterrupt  # stands for the kill
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        cache.save("models", {"v": 1}, entry(1.0))
    monkeypatch.undo()
    assert path.with_suffix(".json").exists() and not path.exists()
    caplog.set_level(logging.WARNING)
    assert cache.load("models", {"v": 1}) is None
    assert cache_lines(caplog) == []  # absent, not damaged


def test_temporary_files_of_killed_writes_go_on_the_next_use_and_live_ones_stay(tmp_path):
    cache = Cache(tmp_path)
    cache.save("scores", {"v": 1}, entry(1.0))
    folder = cache.path("scores", {"v": 1}).parent
    # what atomic_write leaves when killed: .<key>.<suffix>.<random>.tmp
    dead = [folder / ".aaaa.pt.x1y2.tmp", folder / ".aaaa.json.z3.tmp"]
    live = folder / ".bbbb.pt.q9.tmp"
    for file in [*dead, live]:
        file.write_bytes(b"partial")
    with FileLock(folder / "bbbb.lock"):  # a live writer of entry bbbb holds its lock
        Cache(tmp_path).load("scores", {"v": 1})
    assert not any(file.exists() for file in dead)
    assert live.exists()
    Cache(tmp_path).load("scores", {"v": 1})  # the writer is gone
    assert not live.exists()
    assert cache.load("scores", {"v": 1})["accuracy"] == 1.0


def test_the_format_is_part_of_every_key():
    """Format 2 added the hashes: format-1 entries are never read (their keys differ)."""
    assert CACHE_FORMAT == 2
    cache = Cache("/nonexistent")
    assert cache.path("models", {"v": 1}) != cache.path("models", {"v": 1, "format": 1})


# --- whole runs ---------------------------------------------------------------------------------

RUN = ("debug=fast", "threads=1")
# A second run with other entries of every kind, to swap with the first run's.
OTHER = (*RUN, "seed=1", "dataset.seed=7")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean debug run into a fresh cache: (result, cache folder, the entries it wrote by
    kind); then a second run adds other entries of every kind to the same cache."""
    cache = tmp_path_factory.mktemp("clean-cache")
    result = run(compose_config(*RUN, f"cache_dir={cache}"))
    entries = {kind: sorted((cache / kind).glob("*.pt")) for kind in KINDS}
    run(compose_config(*OTHER, f"cache_dir={cache}"))
    return result, cache, entries


def damaged_run(clean, tmp_path, kind: str, fault: str, *overrides: str):
    """The clean run again, on a copy of its cache with `fault` applied to an entry of `kind`:
    (result, the damaged entry's path)."""
    _, cache, entries = clean
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy, ignore=shutil.ignore_patterns("*.lock"))
    target = copy / kind / entries[kind][0].name
    other = next(p for p in sorted((copy / kind).glob("*.pt")) if p.name not in
                 {e.name for e in entries[kind]})  # fmt: skip
    written, theirs = target.stat().st_size, other.stat().st_size
    FAULTS[fault](target, other)
    result = run(compose_config(*RUN, f"cache_dir={copy}", *overrides))
    return result, target, problem(fault, written, theirs)


def problem(fault: str, written: int, theirs: int) -> str:
    """What the log line says about `fault` on an entry of `written` bytes whose swap partner
    had `theirs`: a swap between entries of different sizes is caught by the size check first
    (which entries a run has, and so their sizes, depends on the cache keys, which change with
    xaibench's source): a smaller partner reads as truncated, a larger one as too long."""
    if fault == "swapped" and written != theirs:
        if theirs < written:
            return f"is truncated ({theirs} bytes of {written})"
        return f"has {theirs} bytes, {written} were written"
    return PROBLEMS[fault]


def assert_same_numbers(result, expected) -> None:
    pd.testing.assert_frame_equal(result.scores, expected.scores)
    pd.testing.assert_frame_equal(result.curves, expected.curves)
    # the maps too: a run's scores can come from the cache while its maps do not
    assert result.attributions.keys() == expected.attributions.keys()
    for method, maps in expected.attributions.items():
        assert torch.equal(result.attributions[method], maps), method
    assert result.meta["model"]["test_accuracy"] == expected.meta["model"]["test_accuracy"]
    assert result.meta["errors"] == []


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_recomputes_a_damaged_entry_of_every_kind_to_the_clean_numbers(
    kind, fault, clean, tmp_path, caplog
):
    caplog.set_level(logging.WARNING)
    result, target, says = damaged_run(clean, tmp_path, kind, fault)
    assert_same_numbers(result, clean[0])
    (line,) = cache_lines(caplog)
    assert f"{kind} entry {target} {says}" in line
    assert quarantined(target) == [".json", ".pt"]
    read_entry(target)  # recomputed and written whole again


# The campaign's faults that crashed every later run, reuse=false included (the others go
# through the same read, tested above).
@pytest.mark.parametrize("fault", ["truncated", "zero-length"])
@pytest.mark.parametrize("kind", ["datasets", "models"])
def test_a_run_with_reuse_false_still_checks_its_dataset_and_model(
    kind, fault, clean, tmp_path, caplog
):
    caplog.set_level(logging.WARNING)
    result, target, says = damaged_run(clean, tmp_path, kind, fault, "reuse=false")
    assert_same_numbers(result, clean[0])
    (line,) = cache_lines(caplog)
    assert f"{kind} entry {target} {says}" in line
    assert quarantined(target) == [".json", ".pt"]
    assert not result.meta["stages"][kind.removesuffix("s").replace("dataset", "data")]["cached"]


def overwrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Replace the one occurrence of `old` in the file by `new` (as long): the file keeps its
    size and still loads, with other values."""
    data = path.read_bytes()
    assert data.count(old) == 1 and len(new) == len(old)
    path.write_bytes(data.replace(old, new))


@pytest.mark.parametrize("tamper", ["weights", "accuracy"])
def test_a_model_reports_only_the_accuracy_measured_on_the_weights_it_uses(tamper, tmp_path):
    """The campaign overwrote 16 bytes of a model's weights: it loaded, predicted otherwise and
    reported the stored accuracy. The accuracy is stored in the model's entry, beside the
    weights, so one hash covers both: either changed in place is caught and retrained."""
    cache, cpu = Cache(tmp_path), torch.device("cpu")
    spec = ModelSpec("mnist1d_cnn", train={"epochs": 1})
    data, data_spec, _ = load_dataset("mnist1d", {"train_limit": 800, "test_limit": 200}, cache)
    first = get_model(spec, data, data_spec, cache, cpu, progress=False)
    path = tmp_path / "models" / f"{first.key}.pt"
    if tamper == "weights":  # 4 weights of the first convolution negated
        weights = first.model.state_dict()["features.0.weight"].flatten()[:4]
        overwrite_in_place(path, weights.numpy().tobytes(), (-weights).numpy().tobytes())
    else:  # pickle stores a float as 8 big-endian bytes
        overwrite_in_place(path, struct.pack(">d", first.test_accuracy), struct.pack(">d", 1.0))
    again = get_model(spec, data, data_spec, cache, cpu, progress=False)
    assert not again.cached and quarantined(path) == [".json", ".pt"]
    assert again.test_accuracy == accuracy(again.model, data.x_test, data.y_test)
    assert again.test_accuracy == first.test_accuracy


def test_a_metric_added_after_an_attribution_was_damaged_scores_the_right_maps(clean, tmp_path):
    """The campaign's case: a corrupted attribution entry, then a new metric in the run; the
    new metric was computed on the corrupted maps."""
    _, cache, _ = clean
    added = "metric=[deletion,insertion,sensitivity_n,sparseness]"
    result, _, _ = damaged_run(clean, tmp_path, "attributions", "flipped bytes", added)
    shutil.copytree(cache, tmp_path / "intact", ignore=shutil.ignore_patterns("*.lock"))
    expected = run(compose_config(*RUN, f"cache_dir={tmp_path / 'intact'}", added))
    assert_same_numbers(result, expected)
    assert (result.scores["metric"] == "sparseness").sum() == 5 * 16
