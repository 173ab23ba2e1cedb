"""Processes that open one folder at once (torchrun workers, cluster nodes sharing a file system) decode it once:
the first decodes into the cache under the folder's lock, the others wait and then read every file from it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine_helpers import tiny_dataset
from workbench.config import DataConfig
from workbench.control import CancelToken, CancelledError, held_alone
from workbench.data.cache import decode_store, load_dataset

ROOT = Path(__file__).resolve().parents[1]
LOADER = """
import json, sys
from workbench.config import DataConfig
from workbench.data.cache import load_dataset
print("ready", flush=True)
dataset = load_dataset(DataConfig(root=sys.argv[1], image_size=16, cache_dir=sys.argv[2]))
print(json.dumps([dataset.files_decoded, dataset.files_from_cache]), flush=True)
"""


@pytest.fixture
def data(tmp_path) -> Path:
    return tiny_dataset(tmp_path / "data", per_class=4, size=16)


def test_processes_opening_one_folder_at_once_decode_it_once(data, tmp_path):
    cache = tmp_path / "cache"
    store = decode_store(DataConfig(root=str(data), image_size=16, cache_dir=str(cache)))
    files = sum(1 for path in data.rglob("*.png"))
    with held_alone(store.lock_path):  # held until both processes wait at it, then both race for it
        loaders = [subprocess.Popen([sys.executable, "-c", LOADER, str(data), str(cache)], cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
                   for _ in range(2)]
        for loader in loaders:
            assert loader.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # both are past their imports and at the lock
    counts = sorted(json.loads(loader.communicate(timeout=120)[0]) for loader in loaders)
    assert [loader.returncode for loader in loaders] == [0, 0]
    assert counts == [[0, files], [files, 0]]  # one decoded every file, the other read every file back


def test_a_load_waiting_for_another_process_can_be_cancelled(data, tmp_path):
    config = DataConfig(root=str(data), image_size=16, cache_dir=str(tmp_path / "cache"))
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()  # the load alone takes far less: it must have waited
    with held_alone(decode_store(config).lock_path), pytest.raises(CancelledError):
        load_dataset(config, cancel=cancel)


def test_a_second_load_reads_every_file_from_the_cache(data, tmp_path):
    config = DataConfig(root=str(data), image_size=16, cache_dir=str(tmp_path / "cache"))
    first, second = load_dataset(config), load_dataset(config)
    assert (first.files_decoded, first.files_from_cache) == (len(first), 0)
    assert (second.files_decoded, second.files_from_cache) == (0, len(first))
