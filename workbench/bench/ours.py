"""Our pipeline under the benchmark: the real Trainer, its cached images and batched augmenter."""
from __future__ import annotations

import tempfile

from workbench.bench.quality import knn_quality
from workbench.bench.spec import BenchSpec
from workbench.engine.bench import data_path_speed
from workbench.engine.trainer import Trainer


def run_ours(spec: BenchSpec) -> dict:
    """"speed": images/s of the whole step and of the model step alone (one round each);
    "quality": kNN accuracy after `spec.steps` training steps."""
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(spec.run_config(), run_dir=folder)
        trainer.prepare()
        if spec.mode == "speed":
            speed = data_path_speed(trainer, spec.steps, rounds=1, warmup=spec.warmup)
            return {"images_per_second": speed["whole_step"], **speed, "channels_last": trainer.channels_last}
        batches = trainer.batches()
        while trainer.step < spec.steps:
            trainer.train_step(next(batches))
            trainer.step += 1
        return knn_quality(trainer.model.encoder, trainer.dataset, trainer.augmenter.normalize, trainer.config,
                           trainer.device)
