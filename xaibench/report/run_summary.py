"""summary.md of a run folder (also printed at the end of a run): the one-run leaderboard, the
control test, undefined scores, failures and the cost of every stage."""

from __future__ import annotations

import pandas as pd

from xaibench.report.summary import control_sentence, summary_markdown


def failed_what(error: dict) -> str:
    """What a recorded failure (meta.json's `errors`) concerns: a method, a metric, or a metric
    on one method's maps."""
    return " on ".join(error[key] for key in ("metric", "method") if error[key])


def weak_model_warning(
    accuracy: float, floor: float, loaded: str | None = None, normalise: str | None = None
) -> str:
    """The warning for a model below `min_accuracy`. A model trained here is told to train
    longer; one `loaded` from a file (a checkpoint or pretrained weights) was trained
    elsewhere, and the likely cause is that its inputs are prepared otherwise than in its
    training (`normalise`: how they were prepared here)."""
    start = f"MODEL TOO WEAK TO EXPLAIN: test accuracy {accuracy:.3f} is below min_accuracy={floor}"
    if loaded is None:
        return (
            f"{start}; its explanations say little about a working classifier (train longer, "
            "or lower min_accuracy knowingly)"
        )
    prepared = {
        "standard": "standardised with this dataset's own channel statistics",
        "given": "normalised with the given dataset.mean and dataset.std",
        "none": "not normalised",
    }.get(normalise or "", f"prepared with normalise={normalise}")
    return (
        f"{start} with the weights of {loaded}; likely cause: its inputs here are {prepared}, "
        "unlike in its training. Prepare them as in its training: dataset.normalise=given with "
        "dataset.mean=[...] dataset.std=[...] of its training, or dataset.normalise=none (and "
        "dataset.size/resize); or lower min_accuracy knowingly"
    )


def model_warning(meta: dict) -> str:
    """The weak-model warning of a run, from its meta.json."""
    model = meta["model"]
    normalise = meta["dataset"].get("preparation", {}).get("normalise")
    return weak_model_warning(
        model["test_accuracy"], model["min_accuracy"], model.get("checkpoint"), normalise
    )


SHOWN_CLASSES = 5  # at most this many under-represented classes named in the warning


def lopsided_warning(explained: dict) -> str | None:
    """A warning when classes of the test split got far fewer of the explained inputs than their
    share (meta.json's `explained`: `underrepresented`, see samples.underrepresented), else None
    (also for run folders written before xaibench recorded it)."""
    classes = explained.get("underrepresented")
    if not classes:
        return None
    # A shard's classes are judged over its whole evaluation (samples.explained_subset).
    count, total = explained.get("shard", {}).get("of", explained["count"]), explained["of"]
    per_class = explained.get("evaluation_per_class", explained["per_class"])
    shown = "; ".join(
        f"class {c} has {per_class[c]} (its share: "
        f"{count * explained['test_per_class'][c] / total:.1f})"
        for c in classes[:SHOWN_CLASSES]
    )
    more = len(classes) - SHOWN_CLASSES
    return (
        f"LOPSIDED EXPLAINED CLASSES: of the {count} explained inputs "
        f"(subset={explained['selection']}), {shown}{f'; {more} more classes' if more > 0 else ''}"
        ": less than half their share of the test split, so the scores speak mostly for the "
        "other classes (subset=stratified explains every class in proportion)"
    )


STAGE_COLUMNS = ["samples", "forwards", "backwards", "reused", "seconds", "cached"]


def stage_table(stages: dict[str, dict]) -> str:
    """The stages' costs; runs from before backwards and reused were counted show <NA> there."""
    table = pd.DataFrame.from_dict(stages, orient="index").reindex(columns=STAGE_COLUMNS)
    table.index.name = "stage"
    for column in ("samples", "backwards", "reused"):
        table[column] = table[column].astype("Int64")
    return table.to_markdown()


def summary_text(meta: dict, summary: pd.DataFrame) -> str:
    """The run's summary in markdown, from its meta.json and summary table."""
    model = meta["model"]
    lines = [f"# {meta['experiment']}: {meta['dataset']['name']} / {model['name']}", ""]
    if meta.get("status", "complete") != "complete":
        lines += [f"**Run {meta['status']}.**", ""]
    if model["too_weak"]:
        lines += [f"**WARNING: {model_warning(meta)}.**", ""]
    if lopsided := lopsided_warning(meta.get("explained", {})):
        lines += [f"**WARNING: {lopsided}.**", ""]
    # how the explained inputs were chosen (not recorded by run folders before `subset`)
    selection = meta.get("explained", {}).get("selection")
    chosen = f" ({selection} of {meta['explained']['of']})" if selection else ""
    lines += [
        f"{meta['samples']} test samples{chosen}, target = {meta['target']}, "
        f"seed {meta['seed']}; "
        f"model test accuracy {model['test_accuracy']:.3f}. "
        "Cells: mean [95% bootstrap CI]; best per metric in bold.",
        "",
        summary_markdown(summary) if len(summary) else "(no scores)",
        "",
        control_sentence(meta["control_failures"]),
    ]
    if meta["nan_scores"]:
        counts = ", ".join(f"{k}: {v}" for k, v in meta["nan_scores"].items())
        lines += ["", f"Undefined (NaN) scores, left out of the means: {counts}."]
    for error in meta["errors"]:
        lines += ["", f"**FAILED** {failed_what(error)}: {error['error']}"]
    lines += [
        "",
        "Cost per stage (forwards, backwards = model inputs run forward and backward, on the "
        "model and its copies; reused = forwards taken from another stage's identical work "
        "instead of run again; cached = reused from the cache):",
        "",
        stage_table(meta["stages"]),
    ]
    return "\n".join(lines)
