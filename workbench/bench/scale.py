"""`python main.py bench --scale`: does scanning and caching a folder grow linearly with its size?

For each image count N, a folder of N tiny PNGs (see `synthetic_folder`, made once under the cache folder)
is scanned, then cached from scratch into an empty cache folder ("build": decode, resize, store each file,
assemble the tensor), then loaded again from that cache ("load"). Each phase runs in its own process, so
its peak memory is its own: the growth of the peak resident set over the process's state before the phase.
With a RAM budget (`data.cache_ram_mb`) below the tensor's size the tensor goes to a memory-mapped file.
"""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.bench.compare import worker_env
from workbench.bench.synthetic_folder import IMAGE_SIDE, synthetic_folder
from workbench.bench.worker import RESULT_PREFIX

PHASES = ("scan", "build", "load")
DEFAULT_COUNTS = (10_000, 30_000, 100_000)
DEFAULT_RAM_MB = 64
"""The bench's cache RAM budget: at 32 px gray, 30 000 images fit in it and 100 000 do not."""
PROGRESS_EVERY_S = 1.0


@dataclass
class PhaseSpec:
    """One measured phase on one folder."""

    phase: str
    folder: str
    cache_dir: str
    image_size: int = IMAGE_SIDE
    ram_mb: int = DEFAULT_RAM_MB


def _status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    """Start the peak resident set afresh (Linux 4.0+; elsewhere the peak counts from the process start)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """The peak resident set: VmHWM where there is one (ru_maxrss survives exec, so a child would report
    its parent's peak), else ru_maxrss."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB elsewhere


class _ProgressLine:
    """Progress callback that prints `phase done/total` to stderr now and then, and counts its calls."""

    def __init__(self, label: str) -> None:
        self.label, self.calls, self._last, self._ended = label, 0, 0.0, False

    def __call__(self, done: int, total: int) -> None:
        self.calls += 1
        now = time.perf_counter()
        finished = done >= total
        if not self._ended and (finished or now - self._last >= PROGRESS_EVERY_S):
            self._last, self._ended = now, finished
            print(f"\r    {self.label}: {done}/{total}", end="\n" if finished else "", file=sys.stderr,
                  flush=True)


def run_phase(spec: PhaseSpec) -> dict:
    """Run one phase in this process: seconds, images, peak memory growth, memory-mapped or not."""
    from workbench.config import DataConfig
    from workbench.data import load_dataset, scan_folder

    config = DataConfig(root=spec.folder, image_size=spec.image_size, cache_ram_mb=spec.ram_mb,
                        cache_dir=spec.cache_dir)
    progress = _ProgressLine(spec.phase)
    _reset_peak()
    before = _status_mb("VmRSS") or _peak_rss_mb()
    started = time.perf_counter()
    if spec.phase == "scan":
        images, memmapped = scan_folder(spec.folder, config, progress=progress).report.readable, None
    else:
        dataset = load_dataset(config, progress=progress)
        images, memmapped = len(dataset), dataset.memmap_path is not None
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": images, "peak_rss_growth_mb": _peak_rss_mb() - before,
            "peak_rss_mb": _peak_rss_mb(), "memmapped": memmapped, "progress_calls": progress.calls}


def run_phase_in_process(spec: PhaseSpec) -> dict:
    """`run_phase` in a fresh Python process (its progress lines go to this process's stderr)."""
    done = subprocess.run([sys.executable, "-m", "workbench.bench.scale", json.dumps(asdict(spec))],
                          stdout=subprocess.PIPE, text=True, env=worker_env())
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"the {spec.phase} phase on {spec.folder} failed (exit {done.returncode})")


def scale_figures(counts=DEFAULT_COUNTS, ram_mb: int = DEFAULT_RAM_MB, base: Path | None = None,
                  run=run_phase_in_process, on_count=None) -> list[dict]:
    """For each count: the folder's generation time (0 when it already existed) and every phase's figures."""
    rows = []
    for count in counts:
        started = time.perf_counter()
        folder = synthetic_folder(count, base)
        row = {"count": count, "generated_s": time.perf_counter() - started}
        with tempfile.TemporaryDirectory(prefix="bench-scale-cache-") as cache_dir:
            for phase in PHASES:
                row[phase] = run(PhaseSpec(phase, str(folder), cache_dir, ram_mb=ram_mb))
            shutil.rmtree(cache_dir, ignore_errors=True)  # many small entries: removed before the next count
        rows.append(row)
        if on_count:
            on_count(row)
    return rows


def scale_table(rows: list[dict]) -> str:
    """A markdown table: seconds and ms per 1000 images of each phase, peak memory, memory-mapped."""
    lines = ["| images | scan s (ms/1k) | cache build s (ms/1k) | cache load s (ms/1k) | peak RSS growth MB "
             "scan / build / load | memory-mapped |", "|---|---|---|---|---|---|"]
    for row in rows:
        cells = [f"{row[phase]['seconds']:.1f} ({1e6 * row[phase]['seconds'] / row['count']:.0f})" for phase in PHASES]
        memory = " / ".join(f"{row[phase]['peak_rss_growth_mb']:.0f}" for phase in PHASES)
        mapped = "yes" if row["load"]["memmapped"] else "no"
        lines.append(f"| {row['count']:,} | " + " | ".join(cells) + f" | {memory} | {mapped} |")
    return "\n".join(lines)


def growth_lines(rows: list[dict]) -> list[str]:
    """Per-image time of the largest count over the smallest's, per phase: about 1 when growth is linear."""
    if len(rows) < 2:
        return []
    small, large = rows[0], rows[-1]
    parts = [f"{phase} {(large[phase]['seconds'] / large['count']) / (small[phase]['seconds'] / small['count']):.2f}"
             for phase in PHASES]
    return [f"time per image at {large['count']:,} / at {small['count']:,} (1.0 = linear): " + ", ".join(parts)]


def print_scale_figures(counts=DEFAULT_COUNTS, ram_mb: int = DEFAULT_RAM_MB) -> int:
    """Print `scale_figures` for the command line."""
    print(f"Scale: folders of {IMAGE_SIDE} px gray PNGs, cached at {IMAGE_SIDE} px with a RAM budget of "
          f"{ram_mb} MB; each phase in its own process")
    rows = scale_figures(counts, ram_mb, on_count=lambda row: print(
        f"  {row['count']:,} images" + (f" (folder generated in {row['generated_s']:.1f} s)"
                                        if row["generated_s"] > 0.5 else "") + ": "
        + ", ".join(f"{phase} {row[phase]['seconds']:.1f} s" for phase in PHASES), flush=True))
    print()
    print(scale_table(rows))
    for line in growth_lines(rows):
        print(line)
    return 0


def main(argv: list[str]) -> int:
    print(RESULT_PREFIX + json.dumps(run_phase(PhaseSpec(**json.loads(argv[0])))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
