"""Choosing the training device and numeric precision, and describing them to the user."""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache

import torch


def resolve_device(preference: str = "auto") -> torch.device:
    """The device to train on: CUDA, then MPS, then CPU for "auto"; an explicit choice must exist."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA GPU is available; use 'auto' or 'cpu'")
    if preference == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("train.device is 'mps' but Apple MPS is not available; use 'auto' or 'cpu'")
    return torch.device(preference)


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 instructions (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def default_cpu_threads() -> int:
    """Torch threads when the config says 0: every core but one, at least one.

    Measured on a 2-core machine: with both cores, a SimCLR step ran at ~1700 img/s when the machine was
    otherwise idle but fell to ~16 img/s whenever anything else (the GUI, another process) wanted a core,
    because every small tensor op waits for the descheduled OpenMP thread; with one thread it held ~950 img/s.
    Leaving one core free keeps training fast and the GUI responsive."""
    return max(1, usable_cores() - 1)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_precision(preference: str, device: torch.device) -> str:
    """"bf16" or "fp32": auto picks bf16 on CUDA GPUs that support it and on CPUs with native bf16."""
    if preference != "auto":
        return preference
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return "fp32"


def precision_label(precision: str) -> str:
    """A resolved precision as the user reads it: "bf16 autocast" or "fp32"."""
    return "bf16 autocast" if precision == "bf16" else "fp32"


def uses_channels_last(mode: str, device: torch.device) -> bool:
    """Whether a convolutional network trains channels-last: "on"/"off" as said; "auto": on CUDA, and on a CPU
    where oneDNN runs the convolutions (it reorders every other layout to its own and back on each call:
    measured on a 2-core EPYC, fp32 ResNet-18 41 -> 56 img/s, the small CNN 414 -> 600)."""
    if mode != "auto":
        return mode == "on"
    return device.type == "cuda" or (device.type == "cpu" and torch.backends.mkldnn.is_available())


def compile_in_place(module: torch.nn.Module, device: torch.device) -> None:
    """`torch.compile` `module` in place (its state dict keeps its keys, so checkpoints are unchanged); its
    first calls compile. On a CPU the compiled kernels are C++, so a compiler must be installed."""
    if device.type == "cpu" and not any(shutil.which(name) for name in ("c++", "g++", "clang++", "cl")):
        raise ValueError("train.compile: compiling for the CPU needs a C++ compiler (g++ or clang++), and none "
                         "was found; install one or turn train.compile off")
    module.compile()


def autocast(device: torch.device, precision: str):
    """The autocast context for a step: bf16 mixed precision, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class DeviceInfo:
    kind: str
    name: str
    memory_gb: float | None
    threads: int


def device_info(device: torch.device) -> DeviceInfo:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return DeviceInfo("cuda", props.name, props.total_memory / 2**30, torch.get_num_threads())
    if device.type == "mps":
        return DeviceInfo("mps", "Apple GPU (MPS)", None, torch.get_num_threads())
    return DeviceInfo("cpu", "CPU", None, torch.get_num_threads())


def describe_device(preference: str = "auto", precision: str = "auto", threads: int = 0) -> str:
    """One line for status bars and logs, e.g. "CPU · 1 thread · bf16 autocast" (`threads` as in the
    config: 0 means the default the trainer uses)."""
    device = resolve_device(preference) if preference != "cuda" or torch.cuda.is_available() else torch.device("cpu")
    info = device_info(device)
    mode = precision_label(resolve_precision(precision, device))
    if info.kind == "cuda":
        return f"{info.name} · {info.memory_gb:.0f} GB · {mode}"
    if info.kind == "mps":
        return f"{info.name} · {mode}"
    count = threads or default_cpu_threads()
    return f"CPU · {count} thread{'s' if count > 1 else ''} · {mode}"
