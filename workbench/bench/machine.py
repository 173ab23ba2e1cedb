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


def describe_machine() -> dict[str, str | int | bool | float]:
    """The facts a benchmark table needs to be read correctly (the GPU's too, when there is one)."""
    facts = {"cpu": cpu_model(), "cores": os.cpu_count() or 1, "torch": torch.__version__,
             "cpu_bf16": cpu_supports_bf16(), "python": platform.python_version()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2 ** 30, 1),
                     cuda=torch.version.cuda or "", cudnn=torch.backends.cudnn.version() or 0)
    return facts


def machine_line(machine: dict) -> str:
    """One line, e.g. "AMD EPYC · 2 cores · torch 2.14.1 · native bf16: yes" (and the GPU, when there is one)."""
    bf16 = "yes" if machine["cpu_bf16"] else "no"
    line = f"{machine['cpu']} · {machine['cores']} cores · torch {machine['torch']} · native bf16: {bf16}"
    if machine.get("gpu"):
        line += f" · {machine['gpu']} ({machine['gpu_memory_gb']:.0f} GB, CUDA {machine['cuda']})"
    return line
