"""`python main.py bench --startup`: how long until the window shows, and until the first loss point.

Each launch is `python main.py` in a fresh process (offscreen Qt unless QT_QPA_PLATFORM says otherwise),
in a temporary working folder with its own settings file, with the start-up probe switched on (see
`workbench.gui.startup_probe`): the app prints a wall-clock marker at its first paint, presses Start on the
preset it opens with (the quick CPU demo), prints another at the first plotted loss point and quits.
The first launch may also generate the demo data and fill the decoded cache; it is reported on its own.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench.gui.startup_probe import MARKER, PROBE_ENV

MAIN_SCRIPT = Path(__file__).resolve().parents[2] / "main.py"
LAUNCH_TIMEOUT_S = 300
WINDOW_GOAL_S, FIRST_LOSS_GOAL_S = 3.0, 10.0


class LaunchFailed(RuntimeError):
    """A probed launch ended without all its markers."""


def probe_launch(timeout: float = LAUNCH_TIMEOUT_S) -> dict[str, float]:
    """Launch the app once; seconds from launch to the first paint ("window") and from pressing Start to
    the first plotted loss point ("first_loss")."""
    with tempfile.TemporaryDirectory(prefix="startup-probe-") as folder:
        env = {**os.environ, PROBE_ENV: "1", "PRETEXT_WORKBENCH_SETTINGS": str(Path(folder) / "settings.ini")}
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        launched = time.time()
        done = subprocess.run([sys.executable, str(MAIN_SCRIPT)], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=timeout)
    moments = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == MARKER:
            moments[parts[1]] = float(parts[2])
    if not {"window-painted", "start-pressed", "first-loss-point"} <= set(moments):
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise LaunchFailed(f"the app (exit {done.returncode}) reported only {sorted(moments)}:\n{tail}")
    return {"window": moments["window-painted"] - launched,
            "first_loss": moments["first-loss-point"] - moments["start-pressed"]}


def startup_figures(launches: int = 3, on_launch=None) -> dict:
    """One first launch, then `launches` more; medians (and spreads) of the later ones."""
    first = probe_launch()
    if on_launch:
        on_launch(0, first)
    later = []
    for number in range(1, launches + 1):
        later.append(probe_launch())
        if on_launch:
            on_launch(number, later[-1])
    summary = {"first_launch": first, "launches": later}
    for key in ("window", "first_loss"):
        values = [launch[key] for launch in later]
        summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return summary


def print_startup_figures(launches: int = 3) -> int:
    """Print `startup_figures` for the command line; 0 when both goals are met."""
    print(f"Start-up: `python main.py` launched {launches + 1} times (offscreen Qt), Start pressed at the first "
          "paint on the quick CPU demo preset")
    summary = startup_figures(launches, on_launch=lambda number, launch: print(
        f"  launch {number}{' (first: may build the demo data and cache)' if number == 0 else ''}: window "
        f"{launch['window']:.2f} s, Start to first loss point {launch['first_loss']:.2f} s", flush=True))
    window, loss = summary["window"], summary["first_loss"]
    print(f"  launch to painted window, median (min-max; goal < {WINDOW_GOAL_S:.0f} s): "
          f"{window['median']:.2f} s ({window['min']:.2f}-{window['max']:.2f})")
    print(f"  Start to first plotted loss point, median (min-max; goal < {FIRST_LOSS_GOAL_S:.0f} s): "
          f"{loss['median']:.2f} s ({loss['min']:.2f}-{loss['max']:.2f})")
    return 0 if window["median"] < WINDOW_GOAL_S and loss["median"] < FIRST_LOSS_GOAL_S else 1
