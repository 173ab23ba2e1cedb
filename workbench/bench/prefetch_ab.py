"""`python main.py bench --prefetch both`: our training speed with the next step's views drawn on a
background thread (`train.prefetch: on`) against drawing them on the training thread (`off`), alternating,
each measurement in its own process."""
from __future__ import annotations

import statistics
from dataclasses import replace

from workbench.bench.compare import rotations, run_in_worker
from workbench.bench.spec import BenchSpec

MODES = ("on", "off")


def prefetch_comparison(base: BenchSpec, tasks: list[str], precisions: list[str], repeats: int,
                        run=run_in_worker, on_result=None) -> dict[tuple[str, str, str], list[float]]:
    """Images/s of our whole step for every (task, precision, prefetch mode), `repeats` times in rotating
    order."""
    results: dict[tuple[str, str, str], list[float]] = {}
    order = [(task, precision, mode) for task in tasks for precision in precisions for mode in MODES]
    for task, precision, mode in rotations(order, repeats):
        spec = replace(base, pipeline="ours", task=task, precision=precision, prefetch=mode, mode="speed")
        result = run(spec)
        results.setdefault((task, precision, mode), []).append(result["images_per_second"])
        if on_result:
            on_result(spec, result)
    return results


def prefetch_table(results: dict[tuple[str, str, str], list[float]], tasks: list[str], precisions: list[str]) -> str:
    """A markdown table: median img/s (min-max) with and without prefetching, and their ratio."""
    lines = ["| task | precision | prefetch on: img/s median (min-max) | off | on / off |", "|---|---|---|---|---|"]
    for task in tasks:
        for precision in precisions:
            cells, medians = [], {}
            for mode in MODES:
                values = results[(task, precision, mode)]
                medians[mode] = statistics.median(values)
                cells.append(f"{medians[mode]:.0f} ({min(values):.0f}-{max(values):.0f})")
            lines.append(f"| {task} | {precision} | {cells[0]} | {cells[1]} | {medians['on'] / medians['off']:.2f} |")
    return "\n".join(lines)
