"""Where a result came from: package versions, git commit, device and host."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

from xaibench.registry import XaibenchError

PACKAGES = [
    "xaibench", "torch", "torchvision", "captum", "zennit", "hydra-core", "numpy", "pandas",
    "scipy",
]  # fmt: skip


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else the CPU; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XaibenchError(
            f"device={name!r} but CUDA is not available here; use device=auto or cpu"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise XaibenchError(
            f"device={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s), "
            "numbered from 0"
        )
    return device


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def git_state() -> dict[str, object]:
    """Commit of the xaibench checkout and whether it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def device_info(device: torch.device) -> dict[str, object]:
    info: dict[str, object] = {
        "device": str(device),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
