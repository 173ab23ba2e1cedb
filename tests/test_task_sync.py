"""Task state kept in step across processes: MoCo v2's queue and DINO's centre, with two gloo CPU processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from workbench.config import ModelConfig
from workbench.models import create_backbone
from workbench.tasks import get_task
from workbench.tasks.sync import gather_rows, mean_over_processes, process_count

ROOT = Path(__file__).resolve().parents[1]
PER_RANK = 3
STEPS = 3  # 3 steps x 6 keys pass the end of the 16-key queue: the ring wraps
SETTINGS = {"moco": {"queue_size": 16, "predictor": False, "projector_hidden_dim": 32, "projector_out_dim": 16},
            "dino": {"out_dim": 32, "head_hidden_dim": 32, "head_bottleneck_dim": 16, "local_crops": 0}}

# Runs in each process: the same tasks (same seed) step on this rank's share of the same batches. In eval mode
# BatchNorm uses its running statistics, so a key or teacher output depends on its own image only, and the
# results can be compared with one process stepping on the whole batch.
WORKER = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, "tests")
from test_task_sync import run_tasks
rank, store, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
torch.save(run_tasks(slice(rank * {per_rank}, (rank + 1) * {per_rank})), out)
dist.destroy_process_group()
""".format(per_rank=PER_RANK)


def run_tasks(share: slice) -> dict[str, torch.Tensor]:
    """Step MoCo (v2 queue) and DINO on `share` of each of STEPS fixed batches; their synced state after."""
    state = {}
    for name, settings in SETTINGS.items():
        torch.manual_seed(0)
        encoder = create_backbone(ModelConfig(backbone="small_cnn"), 1, 32)
        task_class = get_task(name)
        task = task_class(task_class.Config(**settings), encoder, encoder.embed_dim).eval()
        for step in range(STEPS):
            images = torch.randint(0, 256, (2 * PER_RANK, 1, 32, 32), dtype=torch.uint8,
                                   generator=torch.Generator().manual_seed(step))
            with torch.no_grad():
                task.training_step(images[share], lambda batch: batch.float() / 255)
        state.update({f"{name}.{key}": value for key, value in task.state_dict().items()
                      if key in ("queue", "queue_position", "center")})
    return state


def test_without_a_process_group_the_sync_helpers_change_nothing():
    values = torch.randn(4, 3)
    assert process_count() == 1
    assert gather_rows(values) is values and mean_over_processes(values) is values


def test_two_processes_share_one_queue_and_one_centre_equal_to_a_single_process_on_both_batches(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outputs = [tmp_path / f"rank{rank}.pt" for rank in range(2)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(rank), str(tmp_path / "store"), str(out)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for rank, out in enumerate(outputs)]
    logs = [worker.communicate(timeout=240)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), "\n".join(logs)
    rank0, rank1 = (torch.load(out) for out in outputs)
    single = run_tasks(slice(None))
    assert set(rank0) == {"moco.queue", "moco.queue_position", "dino.center"}
    for key, value in rank0.items():
        assert torch.equal(value, rank1[key]), key
        torch.testing.assert_close(value, single[key], atol=1e-5, rtol=1e-4, msg=key)
    assert int(rank0["moco.queue_position"]) == STEPS * 2 * PER_RANK % 16
