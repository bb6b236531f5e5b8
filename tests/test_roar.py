"""ROAR (xaibench/roar.py): which positions are removed, with what, and what retraining sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import torch

import xaibench.roar as roar
from tests.helpers import LinearSignalModel, compose_config
from xaibench.data import Dataset
from xaibench.models.zoo import TrainedModel
from xaibench.registry import XaibenchError
from xaibench.report import ReportSettings, build_leaderboard, load_runs
from xaibench.settings import read_settings

START = datetime(2026, 12, 1, tzinfo=UTC)


def settings_for(*overrides: str):
    return read_settings(compose_config("experiment=removal_ranking", *overrides))


def test_masks_hold_exactly_each_samples_top_fraction_of_positions():
    # Channels are summed before ranking: position scores are [5, 1, 4, 0, 3, 2] for sample 0
    # and the reverse order for sample 1.
    first = torch.tensor([[3.0, 1, 2, 0, 1, 2], [2.0, 0, 2, 0, 2, 0]])
    attributions = torch.stack([first, first.flip(-1)])
    masks = roar.top_fraction_masks(attributions, 0.5)
    assert masks.tolist() == [
        [True, False, True, False, True, False],
        [False, True, False, True, False, True],
    ]
    assert roar.top_fraction_masks(attributions, 0.0).sum() == 0
    assert roar.top_fraction_masks(attributions, 1.0).all()
    # Images: the positions are pixels, all channels of a pixel go together.
    image = torch.arange(16.0).view(1, 1, 4, 4).expand(2, 3, 4, 4)
    top = roar.top_fraction_masks(image, 0.25)
    assert top.shape == (2, 4, 4) and top[:, 3].all() and top.sum() == 8
    with pytest.raises(XaibenchError, match="fraction"):
        roar.top_fraction_masks(attributions, 1.5)


def test_removed_positions_take_the_channel_or_position_training_mean():
    x_train = torch.tensor([[[0.0, 2.0], [10.0, 30.0]], [[4.0, 6.0], [10.0, 50.0]]])  # (2, 2, 2)
    assert roar.fill_value(x_train, "channel").tolist() == [[3.0, 3.0], [25.0, 25.0]]
    assert roar.fill_value(x_train, "position").tolist() == [[2.0, 4.0], [10.0, 40.0]]
    masks = torch.tensor([[True, False], [False, False]])
    removed = roar.remove(x_train, masks, roar.fill_value(x_train, "channel"))
    assert removed[0].tolist() == [[3.0, 2.0], [25.0, 30.0]]
    assert torch.equal(removed[1], x_train[1])
    with pytest.raises(XaibenchError, match="valid fills: channel, position"):
        roar.fill_value(x_train, "median")


def test_random_removal_is_seeded():
    inputs, targets = torch.randn(6, 1, 40), torch.zeros(6, dtype=torch.long)
    model = LinearSignalModel(torch.randn(2, 40))

    def random_masks(seed: int) -> torch.Tensor:
        settings = settings_for("method=[random]", f"seed={seed}")
        maps = roar.attributions_of(model, inputs, targets, settings, "random")
        return roar.top_fraction_masks(maps, 0.3)

    assert torch.equal(random_masks(0), random_masks(0))
    assert not torch.equal(random_masks(0), random_masks(1))


def test_retrained_models_see_only_inputs_with_the_methods_top_positions_removed(monkeypatch):
    # Saliency of a linear model is |W[target]| for every input: class 0 ranks the positions
    # 5 > 4 > 3 > 2 > 1 > 0, class 1 the reverse.
    weight = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]])
    model = LinearSignalModel(weight).eval()
    x_train = torch.tensor([[1.0, 1, 1, 1, 1, 1], [-1.0, -1, -1, -1, -1, -1]]).view(2, 1, 6) + 5
    x_test = torch.tensor([[2.0, 2, 2, 2, 2, 2], [-2.0, -2, -2, -2, -2, -2]]).view(2, 1, 6)
    labels = torch.tensor([0, 1])
    data = Dataset("tiny", x_train, labels, x_test, labels, num_classes=2)
    monkeypatch.setattr(roar, "load_dataset", lambda *args: (data, {"name": "tiny"}, True))
    seen: list[tuple[Dataset, dict]] = []

    def fake_get_model(model_spec, dataset, spec, *args, **kwargs):
        seen.append((dataset, spec))
        return TrainedModel(model, 1.0, 1.0, 1, 0.0, True, key=f"model{len(seen)}")

    monkeypatch.setattr(roar, "get_model", fake_get_model)
    settings = settings_for("method=[saliency]", "target=label")
    table = pd.concat(
        roar.roar_samples(settings, seed=0, fractions=[0.5], fill="channel", retrain={})
    )

    (original, original_spec), (unmodified, _), (retrained, spec) = seen
    assert original is data and unmodified is data and "roar" not in original_spec
    assert spec["roar"]["fraction"] == 0.5 and spec["roar"]["explained_by"] == "model1"
    mean = x_train.mean()  # one channel: ROAR's per-channel training mean
    top_of_class0, top_of_class1 = [3, 4, 5], [0, 1, 2]
    for inputs, original_inputs in [(retrained.x_train, x_train), (retrained.x_test, x_test)]:
        assert (inputs[0, 0, top_of_class0] == mean).all()
        assert torch.equal(inputs[0, 0, top_of_class1], original_inputs[0, 0, top_of_class1])
        assert (inputs[1, 0, top_of_class1] == mean).all()
        assert torch.equal(inputs[1, 0, top_of_class0], original_inputs[1, 0, top_of_class0])
    assert retrained.masks_test is None
    # The score of each retrained model is read on the modified test inputs it returned.
    expected = (model(retrained.x_test).argmax(1) == labels).tolist()
    assert table.loc[table["fraction"] == 0.5, "correct"].tolist() == expected


def test_the_test_against_random_removal_is_one_sided_towards_lower_accuracy():
    # Random removal leaves 30 of 40 test samples classified correctly. `faithful` leaves none:
    # it beats random. `backwards` leaves all 40: it differs from random as much, but in the
    # wrong direction, so the one-sided test must not reject.
    outcomes = {
        "random": [True] * 30 + [False] * 10,
        "faithful": [False] * 40,
        "backwards": [True] * 40,
    }
    rows = [
        {"seed": 0, "method": method, "fraction": 0.5, "sample": sample, "correct": hit}
        for method, hits in outcomes.items()
        for sample, hit in enumerate(hits)
    ]
    p = roar.versus_random(pd.DataFrame(rows))
    assert p["faithful"] < 1e-6
    assert p["backwards"] > 0.99


def test_the_summary_of_a_study_in_progress_tests_only_once_random_removal_retrained():
    def rows(method: str, fraction: float, hits: list[bool]) -> list[dict]:
        return [
            {"seed": 0, "method": method, "fraction": fraction, "sample": s, "correct": hit}
            for s, hit in enumerate(hits)
        ]

    started = rows("saliency", 0.0, [True] * 4) + rows("random", 0.0, [True] * 4)
    started += rows("saliency", 0.5, [False, False, True, True])
    table = roar.accuracy_table(pd.DataFrame(started))
    assert table["accuracy"].tolist() == [1.0, 1.0, 0.5]
    in_progress = roar.summary_markdown(pd.DataFrame(started)).splitlines()
    (saliency_row,) = [line for line in in_progress if line.startswith("| saliency")]
    assert saliency_row.replace(" ", "").endswith("|1|0.5||")  # accuracies, no p yet
    finished = roar.summary_markdown(pd.DataFrame(started + rows("random", 0.5, [True] * 4)))
    (saliency_row,) = [line for line in finished.splitlines() if line.startswith("| saliency")]
    # Two discordant samples, both in saliency's favour: one-sided p = 0.25 (one method: no
    # Holm factor).
    assert saliency_row.replace(" ", "").endswith("|1|0.5|0.25|")


def test_a_p_value_below_the_smallest_double_is_printed_as_a_bound():
    # 3000 discordant samples, all in the method's favour: the one-sided p is far below 1e-300
    # and scipy returns 0.0; the table says "< 1e-300" rather than a p of exactly 0.
    rows = [
        {"seed": 0, "method": method, "fraction": fraction, "sample": s, "correct": hit}
        for method, hit in [("saliency", False), ("random", True)]
        for fraction in (0.0, 0.5)
        for s in range(3000)
    ]
    for row in rows:
        row["correct"] = row["correct"] or row["fraction"] == 0.0
    samples = pd.DataFrame(rows)
    assert roar.versus_random(samples)["saliency"] == 0.0
    (saliency_row,) = [
        line
        for line in roar.summary_markdown(samples).splitlines()
        if line.startswith("| saliency")
    ]
    assert saliency_row.replace(" ", "").endswith("|<1e-300|")


def test_a_roar_folder_is_read_by_the_report_like_a_run(monkeypatch, tmp_path):
    """ROAR writes scores.parquet, curves.parquet and meta.json in the run-table schema: the
    per-sample score is the share of fractions at which the sample stays correct."""
    settings, options = roar.read_roar(
        compose_config("experiment=removal_ranking", "method=[saliency,random]")
    )
    correct = {  # (seed, method) -> per fraction 0, 0.5, 0.9: correctness of samples 0..3
        (0, "saliency"): [[1, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 0]],
        (0, "random"): [[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 1, 0]],
    }
    rows = [
        {"seed": seed, "method": method, "fraction": fraction, "sample": i, "correct": bool(c)}
        for (seed, method), by_fraction in correct.items()
        for fraction, hits in zip([0.0, 0.5, 0.9], by_fraction, strict=True)
        for i, c in enumerate(hits)
    ]
    monkeypatch.setattr(roar, "explained_test_split", lambda settings, seed: {
        "model_key": f"key{seed}", "model_accuracy": 0.9, "label": [0, 1, 2, 3],
        "predicted": [0, 1, 2, 0], "target": [0, 1, 2, 0],
    })  # fmt: skip
    cfg = compose_config("experiment=removal_ranking", "method=[saliency,random]")
    roar.write_run_tables(pd.DataFrame(rows), settings, options, tmp_path, cfg, [], START)
    runs = load_runs([tmp_path])
    scores = runs.scores.set_index(["method", "sample"])["value"]
    assert scores[("saliency", 2)] == 0.5 and scores[("random", 0)] == 1.0
    assert set(runs.scores["metric"]) == {"roar"} and not runs.scores["higher_is_better"].any()
    curve = runs.curves[(runs.curves["method"] == "random") & (runs.curves["sample"] == 1)]
    assert curve["x"].tolist() == [0.0, 0.5, 0.9] and curve["value"].tolist() == [1, 1, 0]
    [group] = build_leaderboard(runs, ReportSettings(resamples=200))
    assert group.table.set_index("method").loc["saliency", "category"] == "faithfulness"
    assert group.table.set_index("method").loc["saliency", "mean"] == pytest.approx(1 / 8)


def test_a_small_roar_study_writes_tables_the_report_reads(tmp_path):
    """The whole loop on real (tiny) models: the run tables name the model that made the maps,
    and reading them back gives ROAR's own accuracy table."""
    cfg = compose_config(
        "experiment=removal_ranking", "debug=fast", "threads=1", f"cache_dir={tmp_path / 'c'}",
        "method=[saliency,random]", "roar.fractions=[0.5]", "roar.model_seeds=[0]",
        "+roar.train={epochs: 1}",
    )  # fmt: skip
    settings, options = roar.read_roar(cfg)
    samples = pd.concat(roar.roar(cfg), ignore_index=True)
    roar.write_run_tables(samples, settings, options, tmp_path / "run", cfg, [], START)
    runs = load_runs([tmp_path / "run"])
    accuracy = roar.accuracy_table(samples).set_index(["method", "fraction"])["accuracy"]
    read_back = runs.curves.groupby(["method", "x"])["value"].mean()
    for (method, fraction), value in accuracy.items():
        assert read_back[(method, fraction)] == pytest.approx(value)
    explained = roar.explained_test_split(settings, 0)
    assert set(runs.scores["model_key"]) == {explained["model_key"]}


def test_roar_is_not_split_over_shards():
    with pytest.raises(XaibenchError) as excinfo:
        roar.read_roar(compose_config("experiment=removal_ranking", "shard=1", "shards=2"))
    assert str(excinfo.value) == (
        "ROAR runs as one job; remove shards=2 (and shard) from its command"
    )
