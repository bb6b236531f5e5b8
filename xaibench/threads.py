"""How many CPU threads a run gives PyTorch: by default (`threads: auto`), the CPUs its job was
given, and a run's thread count applied for the run's own duration.

PyTorch's own default is one thread per core of the machine. On a CPU shared with other jobs
those threads wait for each other (a busy 2-core machine ran the demo's 13-second training in
9 minutes), so the default counts only what this job may use: the process's CPU affinity (what
`taskset`, cgroups and most SLURM setups bind), `SLURM_CPUS_PER_TASK` (SLURM without binding),
`OMP_NUM_THREADS` (the user's or the launcher's own limit) and, under Hydra's joblib launcher,
the cores divided among its `n_jobs` parallel jobs. The smallest of them wins.

The machine's load is deliberately not part of the default: the thread count orders the
floating-point sums of training, so the trained weights depend on it (it is in the model's
cache key, models/zoo.py). A default that followed the load would make a run's numbers depend
on what else the machine happened to run; a busy machine gets a warning naming `threads=1`
instead.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

log = logging.getLogger("xaibench")

AUTO = "auto"


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity), or the machine's count where the
    platform cannot tell (macOS, Windows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def leading_count(value: str | None) -> int | None:
    """The positive whole number a variable starts with (`OMP_NUM_THREADS` may list one per
    nesting level, "4,2"), or None when it is unset or holds none."""
    match = re.match(r"\s*(\d+)", value or "")
    return int(match.group(1)) or None if match else None


def joblib_jobs() -> int | None:
    """The parallel jobs of Hydra's joblib launcher when this run is one of them, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        launcher = HydraConfig.get().launcher
    except Exception:  # no Hydra, or a Hydra config without a launcher: not a joblib job
        return None
    if "joblib" not in str(launcher.get("_target_", "")).lower():
        return None
    jobs = launcher.get("n_jobs")
    if not isinstance(jobs, int) or jobs == 0:
        return None
    # joblib's convention: -1 is every CPU, -2 all but one, ...
    return jobs if jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + jobs)


def cpus_given(
    environ: Mapping[str, str] | None = None,
    affinity: int | None = None,
    launcher_jobs: int | None = None,
) -> tuple[int, str]:
    """The thread count `threads: auto` gives, and what decided it.

    Args:
        environ: The environment to read (default: this process's).
        affinity: The CPUs this process may run on (default: `available_cpus()`).
        launcher_jobs: Parallel jobs sharing those CPUs (default: `joblib_jobs()`).

    Returns:
        The smallest of the limits, at least 1, and the name of the limit that set it.
    """
    environ = os.environ if environ is None else environ
    cpus = available_cpus() if affinity is None else affinity
    jobs = joblib_jobs() if launcher_jobs is None else launcher_jobs
    limits = {"the CPU affinity": cpus}
    for variable in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS"):
        if (count := leading_count(environ.get(variable))) is not None:
            limits[variable] = count
    if jobs and jobs > 1:
        limits[f"{jobs} joblib jobs"] = max(1, cpus // jobs)
    source = min(limits, key=lambda name: limits[name])
    return max(1, limits[source]), source


def busy_warning(threads: int, load: float, cpus: int) -> str | None:
    """A line for a run about to use `threads` threads when the last minute's load average
    says other work already fills the CPUs, else None."""
    if threads < 2 or load < cpus:
        return None
    return (
        f"the CPU is busy (load average {load:.1f} on {cpus} CPUs) and this run uses {threads} "
        "threads, which then wait for each other (the demo ran several times slower); "
        "threads=1 avoids it (a model is then trained anew with 1 thread)"
    )


def resolve_threads(threads: int | str | None) -> int | None:
    """The thread count to set for `threads` (a count, "auto", or None: PyTorch's default)."""
    if threads is None:
        return None
    if threads != AUTO:
        return int(threads)
    count, source = cpus_given()
    log.debug("threads: auto gives %d, set by %s", count, source)
    return count


def busy_cpu_warning(threads: int | str | None) -> str | None:
    """For a run with `threads: auto`, a line when its threads would share busy CPUs (see
    `busy_warning`), else None. A run logs it once its settings have passed every check: a run
    refused on the way logs nothing, and so leaves no folder (runfolder.discard_unstarted)."""
    if threads != AUTO or not hasattr(os, "getloadavg"):
        return None
    return busy_warning(torch.get_num_threads(), os.getloadavg()[0], available_cpus())


@contextmanager
def cpu_threads(threads: int | str | None) -> Iterator[None]:
    """PyTorch's CPU thread count set for `threads` inside the block ("auto": the CPUs the job
    was given, `cpus_given`; None: unchanged), and restored after it.

    The count is process-wide, like torch.set_num_threads itself, so a run sets it for its
    own duration only; meta.json records the count used.
    """
    before = torch.get_num_threads()
    count = resolve_threads(threads)
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
