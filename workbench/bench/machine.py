"""What the benchmark ran on, in words: CPU model, cores, torch version, bf16 support."""
from __future__ import annotations

import os
import platform

import torch

from workbench.engine.device import cpu_supports_bf16


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> dict[str, str | int | bool]:
    """The facts a benchmark table needs to be read correctly."""
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "torch": torch.__version__,
            "cpu_bf16": cpu_supports_bf16(), "python": platform.python_version()}


def machine_line(machine: dict) -> str:
    """One line, e.g. "AMD EPYC · 2 cores · torch 2.14.1 · native bf16: yes"."""
    bf16 = "yes" if machine["cpu_bf16"] else "no"
    return f"{machine['cpu']} · {machine['cores']} cores · torch {machine['torch']} · native bf16: {bf16}"
