"""Which checkpoint of a run to export or probe: the best one by default, else the last, or one the user names."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.engine.best_checkpoint import best_checkpoint_path, format_score, read_best
from workbench.engine.runs import CHECKPOINT_PATTERN, RunFolder


@dataclass(frozen=True)
class CheckpointChoice:
    """One checkpoint file of a run and how people see it."""

    path: Path
    label: str
    """Short, for a drop-down: "best (step 300, RankMe 41.2)", "last (step 400)", "step 200"."""
    description: str
    """For a sentence: "best by RankMe, step 300", "last checkpoint, step 400"."""


def checkpoint_choices(folder: RunFolder) -> list[CheckpointChoice]:
    """The run's checkpoints, the default first: the best one (when the run kept one), the last, then the older
    steps, newest first."""
    choices = []
    best = read_best(folder)
    if best is not None:
        choices.append(CheckpointChoice(best_checkpoint_path(folder),
                                        f"best (step {best.step:,}, {format_score(best.metric, best.score)})",
                                        best.describe()))
    for position, path in enumerate(reversed(folder.checkpoints())):
        step = int(CHECKPOINT_PATTERN.match(path.name).group(1))
        last = position == 0
        choices.append(CheckpointChoice(path, f"last (step {step:,})" if last else f"step {step:,}",
                                        f"last checkpoint, step {step:,}" if last else f"checkpoint of step {step:,}"))
    return choices


def choose_checkpoint(folder: RunFolder, checkpoint: str | Path | None = None) -> CheckpointChoice:
    """`checkpoint` ("best", "last" or a file), else the run's default (the best, else the last);
    FileNotFoundError saying what is missing."""
    if not folder.exists():
        raise FileNotFoundError(f"{folder.path} is not a run folder (no config.yaml)")
    choices = checkpoint_choices(folder)
    if checkpoint not in (None, "", "best", "last"):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        known = next((choice for choice in choices if choice.path.resolve() == path.resolve()), None)
        return known or CheckpointChoice(path, path.name, f"checkpoint {path.name}")
    if not choices:
        raise FileNotFoundError(f"{folder.path} has no checkpoint yet; train first")
    if checkpoint in (None, ""):
        return choices[0]
    found = next((choice for choice in choices if choice.label.startswith(str(checkpoint))), None)
    if found is None:
        raise FileNotFoundError(f"{folder.path} has no best checkpoint (no evaluation after step 0 yet)")
    return found
