"""Importing this module registers the built-in pretext tasks."""
from __future__ import annotations

from workbench.tasks import (autoregressive, barlow_twins, byol, dino, distillation, frame_order, jigsaw,  # noqa: F401
                             mae, moco, reconstruction, relative_location, rotation, simclr, simmim, simsiam,
                             vicreg)
