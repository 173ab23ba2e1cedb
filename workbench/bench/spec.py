"""One benchmark measurement, described as plain data so it can travel to a worker process as JSON."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from workbench.config import RunConfig, to_dict
from workbench.tasks import config_from_dict, get_task

PIPELINES = ("ours", "lightly")
MODES = ("speed", "quality")


@dataclass
class BenchSpec:
    """What to run: whose pipeline, which task, at which precision, and for how long.

    `config` is our run config as a dict (backbone, image size, batch, augmentations, optimiser): the
    peer pipeline reads the same values so both train the same network on the same images.
    "speed" times `steps` steps after `warmup`; "quality" trains `steps` steps and reports kNN accuracy.
    `prefetch` is our `train.prefetch` (drawing the next step's views on a background thread).
    """

    pipeline: str
    task: str
    precision: str
    config: dict = field(default_factory=dict)
    mode: str = "speed"
    steps: int = 5
    warmup: int = 2
    threads: int = 0
    loader_workers: int = 0
    prefetch: str = "auto"

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ValueError(f"unknown pipeline {self.pipeline!r}; known: {', '.join(PIPELINES)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {self.precision!r}")

    def run_config(self) -> RunConfig:
        """Our config for this measurement: only `task` (its settings kept when the config has them), this
        precision and thread count, and the run length: `steps` for "quality" (the schedules depend on it),
        unbounded for "speed"."""
        config = config_from_dict(self.config)
        config.tasks = {self.task: config.tasks.get(self.task) or get_task(self.task).Config()}
        config.train.precision = self.precision
        config.train.threads = self.threads
        config.train.prefetch = self.prefetch
        config.train.steps = self.steps if self.mode == "quality" else 10 ** 6
        return config

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "BenchSpec":
        return cls(**json.loads(text))


def spec_config(config: RunConfig) -> dict:
    """A run config as the plain dict a BenchSpec carries."""
    return to_dict(config)
