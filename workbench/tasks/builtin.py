"""Importing this module registers the built-in pretext tasks."""
from __future__ import annotations

from workbench.tasks import (autoregressive, barlow_twins, byol, dino, frame_order, jigsaw, mae,  # noqa: F401
                             moco, reconstruction, relative_location, rotation, simclr, simmim, simsiam, vicreg)
