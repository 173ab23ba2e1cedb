"""Importing this module registers the built-in pretext tasks."""
from __future__ import annotations

from workbench.tasks import (barlow_twins, byol, dino, jigsaw, mae, moco, reconstruction,  # noqa: F401
                             relative_location, rotation, simclr, simmim, simsiam, vicreg)
