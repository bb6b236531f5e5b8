"""`threads: auto`: the CPUs the job was given, the smallest limit winning; a busy CPU warned."""

import logging

import pytest
import torch

from tests.helpers import compose_config
from xaibench import threads
from xaibench.registry import XaibenchError
from xaibench.run import run
from xaibench.threads import busy_warning, cpu_threads, cpus_given, leading_count


@pytest.mark.parametrize(
    ("environ", "affinity", "jobs", "expected"),
    [
        ({}, 8, None, (8, "the CPU affinity")),
        ({"SLURM_CPUS_PER_TASK": "4"}, 8, None, (4, "SLURM_CPUS_PER_TASK")),
        ({"SLURM_CPUS_PER_TASK": "16"}, 8, None, (8, "the CPU affinity")),  # bound tighter
        ({"OMP_NUM_THREADS": "2,1"}, 8, None, (2, "OMP_NUM_THREADS")),  # one per nesting level
        ({"OMP_NUM_THREADS": "3", "SLURM_CPUS_PER_TASK": "6"}, 8, None, (3, "OMP_NUM_THREADS")),
        ({}, 8, 3, (2, "3 joblib jobs")),  # 8 cores among 3 jobs: 2 each
        ({}, 2, 4, (1, "4 joblib jobs")),  # more jobs than cores: never 0
        ({}, 8, 1, (8, "the CPU affinity")),
        ({"OMP_NUM_THREADS": "", "SLURM_CPUS_PER_TASK": "0"}, 4, None, (4, "the CPU affinity")),
    ],
)
def test_auto_takes_the_smallest_limit_the_job_was_given(environ, affinity, jobs, expected):
    assert cpus_given(environ, affinity, jobs) == expected


@pytest.mark.parametrize(
    ("value", "count"),
    [("4", 4), (" 12,2", 12), ("0", None), ("", None), (None, None), ("many", None)],
)
def test_leading_count_reads_a_positive_whole_number(value, count):
    assert leading_count(value) == count


def test_a_busy_cpu_is_warned_only_when_other_work_fills_it_and_threads_would_share():
    assert busy_warning(2, load=0.4, cpus=2) is None  # quiet
    assert busy_warning(1, load=7.0, cpus=2) is None  # one thread does not wait for another
    line = busy_warning(2, load=2.3, cpus=2)
    assert line is not None and "load average 2.3 on 2 CPUs" in line and "threads=1" in line
    assert "\n" not in line


def test_cpu_threads_sets_the_count_for_the_block_only(monkeypatch):
    monkeypatch.setattr(threads, "cpus_given", lambda: (1, "OMP_NUM_THREADS"))
    before = torch.get_num_threads()
    with cpu_threads("auto"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):  # PyTorch's default: untouched
        assert torch.get_num_threads() == before


def test_the_load_never_changes_the_count_only_warns_for_auto(monkeypatch):
    monkeypatch.setattr(threads, "cpus_given", lambda: (2, "the CPU affinity"))
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    before = torch.get_num_threads()
    try:
        with cpu_threads("auto"):
            # the load never changes the count: it decides the trained weights (models/zoo.py)
            assert torch.get_num_threads() == 2
            line = threads.busy_cpu_warning("auto")
            assert line is not None and "load average 3.0 on 2 CPUs" in line
            assert threads.busy_cpu_warning(2) is None  # a count the user chose: no advice
            assert threads.busy_cpu_warning(None) is None
    finally:
        torch.set_num_threads(before)


def test_a_run_refused_at_run_time_logs_no_busy_warning(monkeypatch, caplog, tmp_path):
    """The warning comes once every check has passed: a refused run logs nothing, so Hydra's
    log stays empty and the refused run leaves no folder (runfolder.discard_unstarted)."""
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    caplog.set_level(logging.WARNING, logger="xaibench")
    config = compose_config("debug=fast", "samples=100000", f"cache_dir={tmp_path}")
    with pytest.raises(XaibenchError, match="samples=100000 is more than"):
        run(config)
    assert not [r for r in caplog.records if "CPU is busy" in r.getMessage()]
