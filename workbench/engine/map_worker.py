"""A helper process for the embedding map's t-SNE and UMAP. Both run Python-heavy loops (and UMAP compiles
with numba) that hold the interpreter lock for seconds: in the trainer's own process that would freeze a
GUI running beside it.

The helper is this module run as a program (`python -m workbench.engine.map_worker`), started on first use
and kept for the next maps. Requests and answers are pickles over its stdin and stdout. It is not a
multiprocessing child, so it never re-runs the caller's main script."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

_helper: subprocess.Popen | None = None
_lock = threading.Lock()


def fit_in_helper_process(data: np.ndarray, method: str, seed: int) -> np.ndarray:
    """`neighbour_map(data, method, seed)`, computed in the helper process while this thread waits without
    holding the interpreter lock. A helper that died (killed, out of memory) is replaced, once."""
    with _lock:
        try:
            return _ask(data, method, seed)
        except (OSError, EOFError, pickle.UnpicklingError):
            _stop()
            try:
                return _ask(data, method, seed)
            except (OSError, EOFError, pickle.UnpicklingError):
                _stop()
                raise RuntimeError(f"the helper process computing the {method} map stopped unexpectedly") from None


def _ask(data: np.ndarray, method: str, seed: int) -> np.ndarray:
    global _helper
    if _helper is None or _helper.poll() is not None:
        package_parent = str(Path(__file__).resolve().parents[2])  # so the helper imports this very workbench
        path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
        _helper = subprocess.Popen([sys.executable, "-m", "workbench.engine.map_worker"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
    pickle.dump((np.ascontiguousarray(data), method, seed), _helper.stdin)
    _helper.stdin.flush()
    ok, answer = pickle.load(_helper.stdout)
    if not ok:
        raise ValueError(answer)
    return answer


def _stop() -> None:
    global _helper
    if _helper is not None:
        _helper.kill()
        _helper.wait()
        _helper = None


def serve(requests, answers) -> None:
    """The helper's loop: answer each pickled (data, method, seed) with (True, points) or (False, message),
    until the caller closes the pipe."""
    from workbench.metrics.projection import neighbour_map

    while True:
        try:
            data, method, seed = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, neighbour_map(data, method, seed))
        except Exception as error:  # the caller raises it as a ValueError with this message
            answer = (False, f"{type(error).__name__}: {error}")
        pickle.dump(answer, answers)
        answers.flush()


if __name__ == "__main__":
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the answers
    serve(sys.stdin.buffer, answers)
