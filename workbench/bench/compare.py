"""Alternating measurements in separate worker processes, and their medians."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.bench.spec import BenchSpec
from workbench.bench.worker import RESULT_PREFIX

_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class WorkerFailed(RuntimeError):
    """A measurement process exited without a result."""


def worker_env() -> dict[str, str]:
    """The environment of a measurement process: ours, with this source tree importable."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_SOURCE_ROOT, os.environ.get("PYTHONPATH")]))}


def run_in_worker(spec: BenchSpec) -> dict:
    """Run one measurement in a fresh Python process and return its result."""
    done = subprocess.run([sys.executable, "-m", "workbench.bench.worker", spec.to_json()], capture_output=True,
                          text=True, env=worker_env())
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
    raise WorkerFailed(f"{spec.pipeline} {spec.task} {spec.precision} {spec.mode} failed "
                       f"(exit {done.returncode}):\n{tail}")


def arms(pipelines: list[str], precisions: list[str]) -> list[tuple[str, str]]:
    """(pipeline, precision) pairs, interleaved so neighbours differ in pipeline: ours, peer, ours, peer."""
    return [(pipeline, precision) for precision in precisions for pipeline in pipelines]


def rotations(order: list, repeats: int) -> list:
    """`order` `repeats` times, each time starting one later, so that no arm always runs first or after the
    same neighbour."""
    return [item for repeat in range(repeats) for item in order[repeat % len(order):] + order[:repeat % len(order)]]


@dataclass
class ArmResults:
    """Every measurement of one (task, pipeline, precision)."""

    speed: list[dict] = field(default_factory=list)
    quality: dict | None = None

    def median(self, key: str) -> float:
        return statistics.median(result[key] for result in self.speed)

    def spread(self, key: str) -> tuple[float, float]:
        values = [result[key] for result in self.speed]
        return min(values), max(values)


def compare(base: BenchSpec, tasks: list[str], pipelines: list[str], precisions: list[str], repeats: int,
            quality_steps: int = 0, run=run_in_worker, on_result=None) -> dict[tuple[str, str, str], ArmResults]:
    """Speed of every (task, pipeline, precision), `repeats` times, in rotating order so that no arm
    always runs first or after the same neighbour; then, with `quality_steps`, one kNN run of each."""
    results: dict[tuple[str, str, str], ArmResults] = {}
    order = [(task, *arm) for task in tasks for arm in arms(pipelines, precisions)]
    for task, pipeline, precision in rotations(order, repeats):
        spec = replace(base, task=task, pipeline=pipeline, precision=precision, mode="speed")
        result = run(spec)
        results.setdefault((task, pipeline, precision), ArmResults()).speed.append(result)
        if on_result:
            on_result(spec, result)
    if quality_steps > 0:
        for task, pipeline, precision in order:
            spec = replace(base, task=task, pipeline=pipeline, precision=precision, mode="quality",
                           steps=quality_steps)
            result = run(spec)
            results.setdefault((task, pipeline, precision), ArmResults()).quality = result
            if on_result:
                on_result(spec, result)
    return results
